/** `comet token`: mints an HS256 subscriber token from the serve config's secret. */
import { signSubscriberToken } from "../auth/mint.ts";
import { parseDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import { CliError, usageError } from "./output.ts";

export interface TokenOptions {
  uid?: string;
  ttl: string;
  rooms?: string;
}

export async function mintToken(cfg: Config, opts: TokenOptions): Promise<string> {
  if (!opts.uid) throw usageError("token: --uid is required (or --gen-secret, for a new secret)");
  const ttl = parseDuration(opts.ttl);
  if (ttl === undefined || ttl <= 0) throw usageError(`token: --ttl: expected a duration like "1h", got "${opts.ttl}"`);
  const rooms =
    opts.rooms === undefined
      ? undefined
      : opts.rooms
          .split(",")
          .map((r) => r.trim())
          .filter((r) => r !== "");
  const token = await signSubscriberToken(cfg, { uid: opts.uid, ttlMs: ttl, rooms });
  if (token === undefined) {
    throw new CliError(
      "token: needs auth.jwt.hs256_secret in the serve config (--config FILE, COMET_CONFIG, or COMET_AUTH_JWT_HS256_SECRET)",
    );
  }
  return token;
}
