/**
 * Verified tokens, remembered: a reconnect storm presents the same tokens again, and verifying each
 * anew is most of what a reconnect costs. Safe by construction:
 * - keyed by the whole token string, so only exactly the bytes that verified are ever accepted;
 * - only successes are kept (a refusal is decided afresh each time);
 * - an entry ends when its token expires (from then on the verifier decides, with its clock
 *   tolerance), and a token without `exp` is not kept;
 * - bounded: past `max` entries the least recently used goes.
 */
import type { Identity, Verify } from "./jwt.ts";

export interface TokenCacheOptions {
  /** Most tokens kept. */
  max: number;
  /** The clock, in ms since the epoch (tests pass their own). */
  now?: () => number;
}

export interface CachedVerify extends Verify {
  readonly size: number;
  readonly hits: number;
}

export function cachedVerifier(verify: Verify, opts: TokenCacheOptions): CachedVerify {
  const max = Math.max(1, opts.max);
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Identity>();
  let hits = 0;

  const cached = (async (token: string): Promise<Identity> => {
    const hit = entries.get(token);
    if (hit !== undefined) {
      entries.delete(token);
      if (now() < (hit.expMs as number)) {
        entries.set(token, hit); // most recently used last
        hits++;
        return hit;
      }
    }
    const id = await verify(token);
    if (id.expMs !== undefined && now() < id.expMs) {
      entries.set(token, id);
      if (entries.size > max) entries.delete(entries.keys().next().value as string);
    }
    return id;
  }) as CachedVerify;
  Object.defineProperties(cached, {
    size: { get: () => entries.size },
    hits: { get: () => hits },
  });
  return cached;
}
