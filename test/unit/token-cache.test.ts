import { describe, expect, test } from "bun:test";
import { cachedVerifier } from "../../src/auth/cache.ts";
import { ANY_ROOM } from "../../src/auth/rooms.ts";
import { AuthError, type Identity, type Verify } from "../../src/auth/jwt.ts";

/** A verifier that accepts "ok:<uid>:<expMs>" tokens and counts its calls. */
function fake(): Verify & { calls: string[] } {
  const calls: string[] = [];
  const v = (async (token: string): Promise<Identity> => {
    calls.push(token);
    const [kind, uid, exp] = token.split(":");
    if (kind !== "ok") throw new AuthError("token invalid", "invalid");
    return { uid: uid as string, expMs: exp === "-" ? undefined : Number(exp), rooms: ANY_ROOM };
  }) as Verify & { calls: string[] };
  v.calls = calls;
  return v;
}

describe("verified-token cache", () => {
  test("a token verified once is answered from the cache", async () => {
    const v = fake();
    const c = cachedVerifier(v, { max: 10, now: () => 1000 });
    const a = await c("ok:alice:5000");
    const b = await c("ok:alice:5000");
    expect(b).toBe(a);
    expect(v.calls.length).toBe(1);
    expect(c.hits).toBe(1);
  });

  test("keyed by the whole token: tokens that differ anywhere are verified separately", async () => {
    const v = fake();
    const c = cachedVerifier(v, { max: 10, now: () => 1000 });
    await c("ok:alice:5000");
    await c("ok:alice:5001");
    await c("ok:alicf:5000");
    expect(v.calls).toEqual(["ok:alice:5000", "ok:alice:5001", "ok:alicf:5000"]);
  });

  test("a refused token is not cached: it is verified again each time", async () => {
    const v = fake();
    const c = cachedVerifier(v, { max: 10, now: () => 1000 });
    await expect(c("bad:mallory:5000")).rejects.toBeInstanceOf(AuthError);
    await expect(c("bad:mallory:5000")).rejects.toBeInstanceOf(AuthError);
    expect(v.calls.length).toBe(2);
    expect(c.size).toBe(0);
  });

  test("an entry expires with its token: past exp the verifier decides again", async () => {
    const v = fake();
    let t = 1000;
    const c = cachedVerifier(v, { max: 10, now: () => t });
    await c("ok:alice:5000");
    t = 4999;
    await c("ok:alice:5000");
    expect(v.calls.length).toBe(1);
    t = 5000;
    await c("ok:alice:5000");
    expect(v.calls.length).toBe(2);
  });

  test("a token without exp, or already expired when verified, is not kept", async () => {
    const v = fake();
    const c = cachedVerifier(v, { max: 10, now: () => 9000 });
    await c("ok:alice:-");
    await c("ok:alice:-");
    await c("ok:bob:8000"); // accepted by the verifier within its clock tolerance
    await c("ok:bob:8000");
    expect(v.calls.length).toBe(4);
    expect(c.size).toBe(0);
  });

  test("bounded: past max entries the least recently used token goes", async () => {
    const v = fake();
    const c = cachedVerifier(v, { max: 2, now: () => 1000 });
    await c("ok:a:5000");
    await c("ok:b:5000");
    await c("ok:a:5000"); // a is now the most recently used
    await c("ok:c:5000"); // evicts b
    expect(c.size).toBe(2);
    await c("ok:a:5000");
    await c("ok:c:5000");
    expect(v.calls).toEqual(["ok:a:5000", "ok:b:5000", "ok:c:5000"]);
    await c("ok:b:5000");
    expect(v.calls.length).toBe(4);
  });
});
