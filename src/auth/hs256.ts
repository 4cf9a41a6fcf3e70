/**
 * HS256 verification on node:crypto, synchronous: the same checks, in the same order and with the
 * same outcomes, as jose's jwtVerify with { algorithms: ["HS256"], issuer, audience,
 * clockTolerance } (test/unit/hs256.test.ts compares the two on valid and hostile tokens).
 *
 * Why not jose here: it verifies through WebCrypto, asynchronously, and each verification leaves
 * about a kilobyte of garbage and some native memory behind. On a connect or reconnect storm that is
 * most of the server's CPU per connection and a third of its memory per connection.
 *
 * Stricter than jose in one corner only: a segment that is not plain base64url (padding,
 * whitespace) is refused, where WebCrypto's decoder may let it through.
 */
import { timingSafeEqual } from "node:crypto";
import { isObject } from "../protocol/json.ts";
import type { HmacSha256 } from "./hmac-sha256.ts";
import { AuthError } from "./jwt-errors.ts";

export interface Hs256Options {
  issuer: string;
  audience: string | undefined;
  /** Seconds. */
  clockTolerance: number;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder("utf-8", { fatal: true });

const invalid = (): AuthError => new AuthError("token invalid", "invalid");

/**
 * A base64url segment's bytes, decoded as jose decodes it (Uint8Array.fromBase64, which also
 * refuses a dangling last character), and a quarter of the cost of Buffer.from on a connect storm.
 * Throws on a segment that is not base64url.
 */
function decodeSegment(segment: string): Uint8Array {
  if (!B64URL.test(segment)) throw invalid();
  return Uint8Array.fromBase64(segment, { alphabet: "base64url" });
}

function decodeJson(segment: string): unknown {
  try {
    return JSON.parse(utf8.decode(decodeSegment(segment)));
  } catch {
    throw invalid();
  }
}

/**
 * Header segments that passed the header checks below. Every token of one issuer carries the same
 * header, and what the checks decide depends on its text alone (not on the key, the payload or the
 * time), so a header seen before is not decoded again. Only accepted ones are kept, at most
 * KNOWN_HEADERS of them: a flood of distinct headers empties the set, it does not grow it.
 */
const KNOWN_HEADERS = 64;
const knownHeaders = new Set<string>();

/** The header's checks, as jose makes them: throws AuthError unless the header allows HS256. */
function checkHeader(h: string): void {
  if (knownHeaders.has(h)) return;
  const header = decodeJson(h);
  if (!isObject(header)) throw invalid();
  // jose recognizes only the "b64" extension, and a JWT must keep its payload encoded (b64: true).
  if (header.crit !== undefined) {
    const crit = header.crit;
    if (!Array.isArray(crit) || crit.length === 0 || crit.some((c) => c !== "b64") || header.b64 !== true)
      throw invalid();
  }
  if (typeof header.alg !== "string" || header.alg === "") throw invalid();
  if (header.alg !== "HS256") throw new AuthError("token algorithm not allowed", "invalid");
  if (knownHeaders.size >= KNOWN_HEADERS) knownHeaders.clear();
  knownHeaders.add(h);
}

function claimInvalid(claim: string): AuthError {
  if (claim === "iss") return new AuthError("token has the wrong issuer", "issuer");
  if (claim === "aud") return new AuthError("token has the wrong audience", "audience");
  if (claim === "nbf") return new AuthError("token not yet valid", "invalid");
  return new AuthError(`token claim ${claim} is invalid`, "claims");
}

/** Verifies a compact JWS signed HS256 with the key `sign` holds and returns its claims, or throws AuthError. */
export function verifyHs256(token: string, sign: HmacSha256, o: Hs256Options): Record<string, unknown> {
  const parts = token.split(".");
  if (parts.length !== 3) throw invalid();
  const [h, p, s] = parts as [string, string, string];

  checkHeader(h);

  if (!B64URL.test(p)) throw invalid();
  let signature: Uint8Array;
  try {
    signature = decodeSegment(s);
  } catch {
    throw invalid();
  }
  // The signing input is the token up to its last dot: a slice of it, not a new string.
  const expected = sign(token.slice(0, h.length + 1 + p.length));
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected))
    throw new AuthError("token signature invalid", "invalid");

  const claims = decodeJson(p);
  if (!isObject(claims)) throw invalid();
  // Presence first (iss, then aud), then values; then iat, nbf, exp, as jose does.
  if (!Object.hasOwn(claims, "iss")) throw claimInvalid("iss");
  if (o.audience !== undefined && !Object.hasOwn(claims, "aud")) throw claimInvalid("aud");
  if (claims.iss !== o.issuer) throw claimInvalid("iss");
  if (o.audience !== undefined) {
    const aud = claims.aud;
    const ok = typeof aud === "string" ? aud === o.audience : Array.isArray(aud) && aud.includes(o.audience);
    if (!ok) throw claimInvalid("aud");
  }
  const now = Math.floor(Date.now() / 1000);
  const tol = o.clockTolerance;
  if (claims.iat !== undefined && typeof claims.iat !== "number") throw claimInvalid("iat");
  if (claims.nbf !== undefined) {
    if (typeof claims.nbf !== "number") throw claimInvalid("nbf");
    if (claims.nbf > now + tol) throw claimInvalid("nbf");
  }
  if (claims.exp !== undefined) {
    if (typeof claims.exp !== "number") throw claimInvalid("exp");
    if (claims.exp <= now - tol) throw new AuthError("token expired", "expired");
  }
  return claims;
}
