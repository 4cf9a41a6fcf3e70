/**
 * Settings too weak to start with. Checked when a server starts (not when a config is read, so
 * that `comet token` and the client commands still read an old file): a short HS256 secret can be
 * brute-forced offline from any one token it signed, and a short admin token online. A short
 * mqtt.cluster_key likewise falls to an offline search from any one signed status or activity that
 * a reader of the broker sees.
 */
import { randomBytes } from "node:crypto";
import { ConfigError } from "./load.ts";
import type { Config } from "./schema.ts";

/** RFC 7518 §3.2: an HS256 key at least as long as the hash output. */
export const MIN_HS256_SECRET_BYTES = 32;
export const MIN_ADMIN_TOKEN_CHARS = 16;
/** An HMAC-SHA256 key like hs256_secret, so the same floor. */
export const MIN_CLUSTER_KEY_BYTES = 32;

const HOW = "generate one with `comet token --gen-secret`";

/** Throws a ConfigError that names the first weak key; never echoes the value. */
export function checkStrength(cfg: Config): void {
  const secret = cfg.auth.jwt.hs256_secret;
  // The secret is used as its UTF-8 bytes (auth/jwt.ts), so that is what is counted.
  const bytes = Buffer.byteLength(secret, "utf8");
  if (secret !== "" && bytes < MIN_HS256_SECRET_BYTES) {
    throw new ConfigError(
      "auth.jwt.hs256_secret",
      `${bytes} bytes, at least ${MIN_HS256_SECRET_BYTES} are needed (RFC 7518 §3.2): ${HOW}`,
    );
  }
  // Used as its UTF-8 bytes too (bridge/cluster/signature.ts); empty means no signatures at all.
  const key = cfg.mqtt.cluster_key;
  const keyBytes = Buffer.byteLength(key, "utf8");
  if (key !== "" && keyBytes < MIN_CLUSTER_KEY_BYTES) {
    throw new ConfigError("mqtt.cluster_key", `${keyBytes} bytes, at least ${MIN_CLUSTER_KEY_BYTES} are needed: ${HOW}`);
  }
  for (const [i, t] of cfg.admin.tokens.entries()) {
    const chars = [...t].length;
    if (chars >= MIN_ADMIN_TOKEN_CHARS) continue;
    const what = chars === 0 ? "empty" : `${chars} characters`;
    throw new ConfigError(`admin.tokens[${i}]`, `${what}, at least ${MIN_ADMIN_TOKEN_CHARS} are needed: ${HOW}`);
  }
}

/** A fresh secret for hs256_secret or admin.tokens: 32 random bytes, base64url (43 characters). */
export const generateSecret = (): string => randomBytes(32).toString("base64url");
