import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT } from "jose";
import { Client, startTest, waitFor } from "../helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Server = Awaited<ReturnType<typeof startTest>>;

async function authWith(server: Server, tok: string): Promise<{ code?: number; reason?: string; uid?: string }> {
  const c = new Client(server.ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: tok } });
  const outcome = await Promise.race([
    c.closed,
    waitFor(() => server.hub.sessions.size > 0, "session", 2000).then(() => undefined),
  ]);
  c.close();
  if (outcome) return outcome;
  const uid = [...server.hub.sessions.keys()][0];
  await waitFor(() => server.hub.sessions.size === 0);
  return { uid };
}

const sign = (claims: Record<string, unknown>, alg: string, key: CryptoKey | Uint8Array, kid?: string) =>
  new SignJWT({ iss: "io.goeasy", sub: "keyed", ...claims })
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);

describe("PEM public keys", () => {
  for (const [alg, opts] of [
    ["RS256", { modulusLength: 2048 }],
    ["ES256", {}],
    ["EdDSA", { crv: "Ed25519" }],
  ] as const) {
    test(`${alg}: a signed token is accepted; one signed by another key is refused`, async () => {
      const { publicKey, privateKey } = await generateKeyPair(alg, { ...opts, extractable: true });
      const other = await generateKeyPair(alg, { ...opts, extractable: true });
      const file = join(dir, `${alg}.pem`);
      writeFileSync(file, await exportSPKI(publicKey));
      const server = await startTest("", { COMET_AUTH_JWT_HS256_SECRET: "", COMET_AUTH_JWT_PUBLIC_KEY_FILE: file });
      try {
        expect(await authWith(server, await sign({}, alg, privateKey))).toEqual({ uid: "keyed" });
        expect(await authWith(server, await sign({}, alg, other.privateKey))).toEqual({
          code: 4401,
          reason: "token signature invalid",
        });
      } finally {
        await server.stop();
      }
    });
  }

  test("algorithm confusion: an HS256 token keyed with the public key PEM is refused", async () => {
    const { publicKey } = await generateKeyPair("RS256", { extractable: true });
    const pem = await exportSPKI(publicKey);
    const file = join(dir, "confusion.pem");
    writeFileSync(file, pem);
    const server = await startTest("", { COMET_AUTH_JWT_HS256_SECRET: "", COMET_AUTH_JWT_PUBLIC_KEY_FILE: file });
    try {
      const forged = await sign({}, "HS256", new TextEncoder().encode(pem));
      expect(await authWith(server, forged)).toEqual({ code: 4401, reason: "token algorithm not allowed" });
    } finally {
      await server.stop();
    }
  });
});

describe("JWKS file", () => {
  test("a token whose kid is in the JWKS is accepted; an unknown kid is refused", async () => {
    const a = await generateKeyPair("ES256", { extractable: true });
    const b = await generateKeyPair("RS256", { extractable: true });
    const stranger = await generateKeyPair("ES256", { extractable: true });
    const jwks = {
      keys: [
        { ...(await exportJWK(a.publicKey)), kid: "a", alg: "ES256" },
        { ...(await exportJWK(b.publicKey)), kid: "b", alg: "RS256" },
      ],
    };
    const file = join(dir, "jwks.json");
    writeFileSync(file, JSON.stringify(jwks));
    const server = await startTest("", { COMET_AUTH_JWT_HS256_SECRET: "", COMET_AUTH_JWT_JWKS_FILE: file });
    try {
      expect(await authWith(server, await sign({}, "ES256", a.privateKey, "a"))).toEqual({ uid: "keyed" });
      expect(await authWith(server, await sign({}, "RS256", b.privateKey, "b"))).toEqual({ uid: "keyed" });
      expect((await authWith(server, await sign({}, "ES256", stranger.privateKey, "zzz"))).code).toBe(4401);
    } finally {
      await server.stop();
    }
  });
});

describe("HS256 claims", () => {
  const secret = new TextEncoder().encode("hs-secret-hs-secret-hs-secret-hs-secret");
  const env = {
    COMET_AUTH_JWT_HS256_SECRET: "hs-secret-hs-secret-hs-secret-hs-secret",
    COMET_AUTH_JWT_AUDIENCE: "pushers",
  };

  test("alg none is refused", async () => {
    const server = await startTest("", env);
    try {
      const header = base64url.encode(JSON.stringify({ alg: "none", typ: "JWT" }));
      const body = base64url.encode(
        JSON.stringify({ iss: "io.goeasy", sub: "x", aud: "pushers", exp: Math.floor(Date.now() / 1000) + 60 }),
      );
      expect((await authWith(server, `${header}.${body}.`)).code).toBe(4401);
    } finally {
      await server.stop();
    }
  });

  test("audience is checked when set", async () => {
    const server = await startTest("", env);
    try {
      expect(await authWith(server, await sign({ aud: "pushers" }, "HS256", secret))).toEqual({ uid: "keyed" });
      expect(await authWith(server, await sign({ aud: "others" }, "HS256", secret))).toEqual({
        code: 4401,
        reason: "token has the wrong audience",
      });
      expect((await authWith(server, await sign({}, "HS256", secret))).code).toBe(4401);
    } finally {
      await server.stop();
    }
  });

  test("nbf and exp honour clock_tolerance", async () => {
    const server = await startTest("auth: {jwt: {clock_tolerance: 30s}}", env);
    try {
      const now = Math.floor(Date.now() / 1000);
      expect(await authWith(server, await sign({ aud: "pushers", nbf: now + 10 }, "HS256", secret))).toEqual({
        uid: "keyed",
      });
      expect(await authWith(server, await sign({ aud: "pushers", nbf: now + 120 }, "HS256", secret))).toEqual({
        code: 4401,
        reason: "token not yet valid",
      });
      const expired = (exp: number) =>
        new SignJWT({ iss: "io.goeasy", sub: "keyed", aud: "pushers", exp })
          .setProtectedHeader({ alg: "HS256" })
          .sign(secret);
      expect(await authWith(server, await expired(now - 10))).toEqual({ uid: "keyed" });
      expect(await authWith(server, await expired(now - 120))).toEqual({ code: 4401, reason: "token expired" });
    } finally {
      await server.stop();
    }
  });
});
