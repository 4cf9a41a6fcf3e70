/** The HMAC-SHA256 of auth/hmac-sha256.ts against node:crypto's createHmac. */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { hmacSha256 } from "../../src/auth/hmac-sha256.ts";

const enc = new TextEncoder();

describe("hmacSha256 matches createHmac", () => {
  const keys = ["", "k", "x".repeat(32), "y".repeat(64), "z".repeat(65), "é🔑".repeat(40)];
  const messages = ["", "a.b", "header.payload", "ü€🎉".repeat(100), "m".repeat(5000)];
  for (const key of keys) {
    test(`key of ${enc.encode(key).length} bytes`, () => {
      const sign = hmacSha256(enc.encode(key));
      // Twice over, short after long: the buffer it keeps must not leak one message into the next.
      for (const m of [...messages, ...messages.toReversed()]) {
        expect(Buffer.from(sign(m)).toString("hex")).toBe(createHmac("sha256", key).update(m).digest("hex"));
      }
    });
  }
});
