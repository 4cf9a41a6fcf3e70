/** Signs HS256 subscriber tokens with the configured secret: for `comet token` and the dev page. */
import type { Config } from "../config/schema.ts";

export interface MintOptions {
  uid: string;
  ttlMs: number;
  rooms?: string[];
}

/** Undefined when the server has no HS256 secret to sign with. */
export async function signSubscriberToken(cfg: Config, opts: MintOptions): Promise<string | undefined> {
  const secret = cfg.auth.jwt.hs256_secret;
  if (!secret) return undefined;
  const claims: Record<string, unknown> = {};
  if (opts.rooms !== undefined) claims.rooms = opts.rooms;
  const now = Math.floor(Date.now() / 1000);
  // Loaded by the callers that sign (comet token, the dev page's /ui/token), not by every importer.
  const { SignJWT } = await import("jose");
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(opts.uid)
    .setIssuer(cfg.namespace)
    .setIssuedAt(now)
    .setExpirationTime(now + Math.ceil(opts.ttlMs / 1000));
  if (cfg.auth.jwt.audience) jwt = jwt.setAudience(cfg.auth.jwt.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
