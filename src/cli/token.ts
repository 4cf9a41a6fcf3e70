/** `comet token`: mints an HS256 subscriber token from the serve config's secret. */
import { SignJWT } from "jose";
import { parseDuration } from "../config/duration.ts";
import type { Config } from "../config/schema.ts";
import { CliError, usageError } from "./output.ts";

export interface TokenOptions {
  uid: string;
  ttl: string;
  rooms?: string;
}

export async function mintToken(cfg: Config, opts: TokenOptions): Promise<string> {
  if (!opts.uid) throw usageError("token: --uid is required");
  const ttl = parseDuration(opts.ttl);
  if (ttl === undefined || ttl <= 0) throw usageError(`token: --ttl: expected a duration like "1h", got "${opts.ttl}"`);
  const secret = cfg.auth.jwt.hs256_secret;
  if (!secret) {
    throw new CliError(
      "token: needs auth.jwt.hs256_secret in the serve config (--config FILE, COMET_CONFIG, or COMET_AUTH_JWT_HS256_SECRET)",
    );
  }
  const claims: Record<string, unknown> = {};
  if (opts.rooms !== undefined) {
    claims.rooms = opts.rooms
      .split(",")
      .map((r) => r.trim())
      .filter((r) => r !== "");
  }
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(opts.uid)
    .setIssuer(cfg.namespace)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(ttl / 1000));
  if (cfg.auth.jwt.audience) jwt = jwt.setAudience(cfg.auth.jwt.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
