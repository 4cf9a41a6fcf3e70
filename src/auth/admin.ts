/** The HTTP API's bearer check: every configured token compared in constant time. */
import { hash, timingSafeEqual } from "node:crypto";
import type { FailureLimiter } from "./failures.ts";

/** One-shot SHA-256 (a Hash object per request cost more than the rest of the check). */
const digest = (s: string): Buffer => hash("sha256", s, "buffer") as unknown as Buffer;

/** ok; unauthorized (401, UNAUTHENTICATED); limited: a failure past the address's limit (429, RESOURCE_EXHAUSTED). */
export type AdminVerdict = "ok" | "unauthorized" | "limited";

export class AdminAuth {
  private digests: Buffer[];
  constructor(
    tokens: readonly string[],
    private readonly failures: FailureLimiter,
  ) {
    this.digests = tokens.map(digest);
  }

  /** A reload's admin.tokens: the next request is checked against these alone. */
  setTokens(tokens: readonly string[]): void {
    this.digests = tokens.map(digest);
  }

  /** True when the Authorization header carries one of the admin tokens. */
  check(authorization: string | null): boolean {
    if (!authorization) return false;
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!m) return false;
    // Hashing first makes every comparison the same length; no early exit over the list either.
    const given = digest(m[1] as string);
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }

  /**
   * The check, with a failure counted against the client's address. The address is asked for only
   * on a failure, so a request with the right token never pays for reading X-Forwarded-For.
   */
  verdict(authorization: string | null, client: () => string): AdminVerdict {
    if (this.check(authorization)) return "ok";
    return this.failures.failed(client(), Date.now()) ? "limited" : "unauthorized";
  }
}
