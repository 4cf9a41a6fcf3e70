/**
 * Subscriber token verification with jose. Exactly one key source is configured (HS256 secret, PEM
 * public key, or a JWKS file), and the accepted algorithms are pinned to that source, so `alg: none`
 * and algorithm confusion (an HS256 token "signed" with the public key) are refused.
 */
import { createHash, createPublicKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { createLocalJWKSet, errors, type JWTVerifyGetKey, jwtVerify } from "jose";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { verifyHs256 } from "./hs256.ts";
import { hmacSha256 } from "./hmac-sha256.ts";
import { AuthError } from "./jwt-errors.ts";
import { ANY_ROOM, compileRoomsClaim, NO_ROOM, type RoomAccess } from "./rooms.ts";

export interface Identity {
  uid: string;
  /** Expiry in ms since the epoch, or undefined for a token without `exp`. */
  expMs: number | undefined;
  /** Issued at (`iat`) in ms since the epoch, or undefined: a revocation compares it (revocations.ts). */
  iatMs: number | undefined;
  rooms: RoomAccess;
}

export { AuthError };

export type Verify = (token: string) => Promise<Identity>;

type Key = Uint8Array | KeyObject | JWTVerifyGetKey;

function algorithmsFor(key: KeyObject, file: string): string[] {
  const t = key.asymmetricKeyType;
  if (t === "rsa") return ["RS256"];
  if (t === "ec") {
    const curve = key.asymmetricKeyDetails?.namedCurve;
    if (curve === "prime256v1" || curve === "P-256") return ["ES256"];
    if (curve === "secp384r1" || curve === "P-384") return ["ES384"];
    throw new ConfigError(
      "auth.jwt.public_key_file",
      `${file}: expected an EC key on P-256 (ES256) or P-384 (ES384), got one on ${curve}`,
    );
  }
  if (t === "ed25519") return ["EdDSA"];
  throw new ConfigError("auth.jwt.public_key_file", `${file}: expected an RSA, EC or Ed25519 public key, got ${t}`);
}

export function describeKeySource(cfg: Config): string | undefined {
  const j = cfg.auth.jwt;
  if (j.hs256_secret) return "hs256_secret";
  if (j.public_key_file) return "public_key_file";
  if (j.jwks_file) return "jwks_file";
  return undefined;
}

/**
 * Builds the verifier for the configured key. An HS256 secret is checked by verifyHs256
 * (synchronous node:crypto, same outcomes as jose); `engine: "jose"` forces jose for it (tests
 * compare the two).
 */
export function createVerifier(cfg: Config, opts: { engine?: "native" | "jose" } = {}): Verify {
  return buildVerifier(cfg, opts).verify;
}

/**
 * The verifier, and a digest of the key material it was built from: a reload compares digests to
 * tell a rotated JWKS or PEM file (same path, new keys) from an unchanged one, from the bytes the
 * verifier was actually built with rather than from a second read that could see another file.
 */
export function buildVerifier(
  cfg: Config,
  opts: { engine?: "native" | "jose" } = {},
): { verify: Verify; fingerprint: string } {
  const j = cfg.auth.jwt;
  const set = [j.hs256_secret, j.public_key_file, j.jwks_file].filter((s) => s !== "").length;
  if (set !== 1) {
    throw new ConfigError(
      "auth.jwt",
      set === 0
        ? "no key configured: set one of auth.jwt.hs256_secret, auth.jwt.public_key_file, auth.jwt.jwks_file"
        : `${set} keys configured: set only one of hs256_secret, public_key_file, jwks_file`,
    );
  }
  const { key, hmacKey, secret, algorithms, material } = loadKey(cfg, opts.engine);

  const options = {
    algorithms,
    issuer: cfg.namespace,
    audience: j.audience || undefined,
    clockTolerance: Math.floor(j.clock_tolerance / 1000),
  };
  const roomsMode = cfg.auth.rooms;

  const native = secret !== undefined && opts.engine !== "jose" ? hmacSha256(secret) : undefined;
  const hs256 = { issuer: cfg.namespace, audience: options.audience, clockTolerance: options.clockTolerance };

  const verify = async (token: string): Promise<Identity> => {
    if (!token) throw new AuthError("token missing", "missing");
    let payload: Record<string, unknown>;
    if (native) payload = verifyHs256(token, native, hs256);
    else {
      try {
        // The overloads of jwtVerify differ only in the key's type.
        const res = await jwtVerify(token, (hmacKey ? await hmacKey : key) as Uint8Array, options);
        payload = res.payload as Record<string, unknown>;
      } catch (err) {
        throw toAuthError(err);
      }
    }
    const sub = payload.sub;
    if (typeof sub !== "string" || sub === "") throw new AuthError("token has no sub", "claims");
    let rooms: RoomAccess;
    if (payload.rooms === undefined) rooms = roomsMode === "open" ? ANY_ROOM : NO_ROOM;
    else {
      const compiled = compileRoomsClaim(payload.rooms);
      if (!compiled) throw new AuthError("rooms claim must be an array of strings", "claims");
      rooms = compiled;
    }
    const exp = typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
    const iat = typeof payload.iat === "number" ? payload.iat * 1000 : undefined;
    return { uid: sub, expMs: exp, iatMs: iat, rooms };
  };
  return { verify, fingerprint: createHash("sha256").update(material).digest("hex") };
}

/** The key material of auth.jwt, read once: what verification needs, and the bytes it came from. */
interface LoadedKey {
  key: Key;
  /** HS256 under jose: the WebCrypto key, imported once (given the raw secret, jose imports one per call). */
  hmacKey?: Promise<CryptoKey>;
  /** HS256: the raw secret (the native verifier's). */
  secret?: Uint8Array;
  algorithms: string[];
  material: string;
}

function loadKey(cfg: Config, engine: "native" | "jose" | undefined): LoadedKey {
  const j = cfg.auth.jwt;
  if (j.hs256_secret) {
    const secret = new TextEncoder().encode(j.hs256_secret);
    const hmacKey =
      engine === "jose"
        ? crypto.subtle.importKey("raw", secret as Uint8Array<ArrayBuffer>, { name: "HMAC", hash: "SHA-256" }, false, [
            "verify",
          ])
        : undefined;
    return { key: secret, hmacKey, secret, algorithms: ["HS256"], material: j.hs256_secret };
  }
  return j.public_key_file ? loadPublicKey(j.public_key_file) : loadJwks(j.jwks_file);
}

function loadPublicKey(file: string): LoadedKey {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError("auth.jwt.public_key_file", `cannot read ${file}: ${(err as Error).message}`);
  }
  let ko: KeyObject;
  try {
    ko = createPublicKey(pem);
  } catch (err) {
    throw new ConfigError("auth.jwt.public_key_file", `${file} is not a PEM public key: ${(err as Error).message}`);
  }
  return { key: ko, algorithms: algorithmsFor(ko, file), material: pem };
}

function loadJwks(file: string): LoadedKey {
  let material: string;
  let doc: unknown;
  try {
    material = readFileSync(file, "utf8");
    doc = JSON.parse(material);
  } catch (err) {
    throw new ConfigError("auth.jwt.jwks_file", `cannot read a JSON document from ${file}: ${(err as Error).message}`);
  }
  let key: Key;
  try {
    key = createLocalJWKSet(doc as Parameters<typeof createLocalJWKSet>[0]);
  } catch (err) {
    throw new ConfigError("auth.jwt.jwks_file", `${file} is not a JWKS: ${(err as Error).message}`);
  }
  return { key, algorithms: ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"], material };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof errors.JWTExpired) return new AuthError("token expired", "expired");
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === "iss") return new AuthError("token has the wrong issuer", "issuer");
    if (err.claim === "aud") return new AuthError("token has the wrong audience", "audience");
    if (err.claim === "nbf") return new AuthError("token not yet valid", "invalid");
    return new AuthError(`token claim ${err.claim} is invalid`, "claims");
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return new AuthError("token algorithm not allowed", "invalid");
  if (err instanceof errors.JWSSignatureVerificationFailed) return new AuthError("token signature invalid", "invalid");
  if (err instanceof errors.JWKSNoMatchingKey) return new AuthError("token key not found", "invalid");
  return new AuthError("token invalid", "invalid");
}
