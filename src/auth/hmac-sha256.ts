/**
 * HMAC-SHA256 (RFC 2104) with the key's pads computed once: two one-shot SHA-256 digests per
 * signature, where createHmac builds and tears down an Hmac object (and rehashes the key) on every
 * call. On a connect storm each AUTH verifies one signature, and this is half of createHmac's cost
 * there. test/unit/hmac-sha256.test.ts checks it against createHmac.
 */
import { hash } from "node:crypto";

const BLOCK = 64;
const DIGEST = 32;

export type HmacSha256 = (message: string) => Uint8Array;

export function hmacSha256(secret: Uint8Array): HmacSha256 {
  // A key longer than the block is hashed first; a shorter one is padded with zeros.
  const key = secret.length > BLOCK ? hash("sha256", secret, "buffer") : secret;
  const outer = new Uint8Array(BLOCK + DIGEST);
  let inner = new Uint8Array(BLOCK + 256);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = (key[i] ?? 0) ^ 0x36;
    outer[i] = (key[i] ?? 0) ^ 0x5c;
  }
  const encoder = new TextEncoder();
  // Views on `inner`, kept: a typed-array view costs about as much as a digest on a busy server.
  // The message goes after the pad; the hashed view is remade only when the length changes.
  let tail = inner.subarray(BLOCK);
  let hashed = inner.subarray(0, BLOCK);
  return (message) => {
    // The inner pad and the message's UTF-8 in one buffer, grown for a longer message.
    const most = BLOCK + message.length * 3;
    if (inner.length < most) {
      const grown = new Uint8Array(most);
      grown.set(inner.subarray(0, BLOCK));
      inner = grown;
      tail = inner.subarray(BLOCK);
      hashed = inner.subarray(0, BLOCK);
    }
    const { written } = encoder.encodeInto(message, tail);
    if (hashed.length !== BLOCK + written) hashed = inner.subarray(0, BLOCK + written);
    outer.set(hash("sha256", hashed, "buffer"), BLOCK);
    return hash("sha256", outer, "buffer");
  };
}
