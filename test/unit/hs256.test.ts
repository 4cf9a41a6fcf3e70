/**
 * The native HS256 path against jose: for valid and hostile tokens alike, both must accept the same
 * tokens with the same identity, and refuse the rest with the same reason and kind.
 */
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { AuthError, createVerifier, type Verify } from "../../src/auth/jwt.ts";
import { SECRET, testConfig } from "../helpers.ts";

const b64 = (x: string | Uint8Array) => Buffer.from(x).toString("base64url");
const enc = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

/** A token from raw parts: header and payload as objects or raw JSON text. */
function make(header: unknown, payload: unknown, secret = SECRET, sigAlg = "sha256"): string {
  const data = `${b64(enc(header))}.${b64(enc(payload))}`;
  return `${data}.${createHmac(sigAlg, secret).update(data).digest("base64url")}`;
}

const now = () => Math.floor(Date.now() / 1000);
const HS = { alg: "HS256", typ: "JWT" };
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: "io.goeasy",
  sub: "alice",
  exp: now() + 3600,
  ...extra,
});

async function outcome(v: Verify, token: string) {
  try {
    const id = await v(token);
    return { uid: id.uid, expMs: id.expMs, room: id.rooms.allows("r1"), other: id.rooms.allows("zz") };
  } catch (e) {
    if (e instanceof AuthError) return { reason: e.reason, kind: e.kind };
    return { thrown: String(e) };
  }
}

function cases(): Array<[string, string]> {
  const valid = make(HS, claims());
  const [h, p, s] = valid.split(".") as [string, string, string];
  const other = make(HS, claims({ sub: "mallory" }));
  return [
    ["valid", valid],
    ["valid with a rooms claim", make(HS, claims({ rooms: ["r1", "team/*"] }))],
    ["rooms claim not an array", make(HS, claims({ rooms: "r1" }))],
    ["no exp", make(HS, { iss: "io.goeasy", sub: "alice" })],
    ["expired", make(HS, claims({ exp: now() - 60 }))],
    ["expired within the clock tolerance", make(HS, claims({ exp: now() - 2 }))],
    ["exp is now", make(HS, claims({ exp: now() }))],
    // On the edges of the 5 s tolerance (later verification only moves away from them).
    ["exp exactly the tolerance ago", make(HS, claims({ exp: now() - 5 }))],
    ["nbf exactly the tolerance ahead", make(HS, claims({ nbf: now() + 5 }))],
    ["nbf in the future", make(HS, claims({ nbf: now() + 60 }))],
    ["nbf within the clock tolerance", make(HS, claims({ nbf: now() + 2 }))],
    ["exp a string", make(HS, claims({ exp: String(now() + 3600) }))],
    ["nbf a string", make(HS, claims({ nbf: "0" }))],
    ["iat a string", make(HS, claims({ iat: "yesterday" }))],
    ["iat a number", make(HS, claims({ iat: now() }))],
    ["wrong issuer", make(HS, claims({ iss: "evil" }))],
    ["issuer missing", make(HS, { sub: "alice", exp: now() + 60 })],
    ["issuer null", make(HS, claims({ iss: null }))],
    ["an aud nobody asked for", make(HS, claims({ aud: "x" }))],
    ["no sub", make(HS, { iss: "io.goeasy", exp: now() + 60 })],
    ["empty sub", make(HS, claims({ sub: "" }))],
    ["sub a number", make(HS, claims({ sub: 42 }))],
    ["wrong secret", make(HS, claims(), "another-secret-that-is-long-enough-000")],
    ["payload swapped under a valid signature", `${h}.${other.split(".")[1]}.${s}`],
    ["alg none, no signature", `${b64(enc({ alg: "none" }))}.${p}.`],
    ["alg HS512", make({ alg: "HS512" }, claims(), SECRET, "sha512")],
    ["alg RS256 with an HMAC signature", make({ alg: "RS256" }, claims())],
    ["alg missing", make({ typ: "JWT" }, claims())],
    ["alg empty", make({ alg: "" }, claims())],
    ["alg a number", make({ alg: 256 }, claims())],
    ["header not JSON", make("{not json", claims())],
    ["header an array", make("[1,2]", claims())],
    ["payload not JSON", make(HS, "not json")],
    ["payload an array", make(HS, "[1]")],
    ["payload a number", make(HS, "123")],
    [
      "payload not UTF-8",
      (() => {
        const data = `${b64(enc(HS))}.${b64(new Uint8Array([0x7b, 0xff, 0x7d]))}`;
        return `${data}.${createHmac("sha256", SECRET).update(data).digest("base64url")}`;
      })(),
    ],
    ["crit b64 with b64 true", make({ ...HS, crit: ["b64"], b64: true }, claims())],
    ["crit b64 with b64 false", make({ ...HS, crit: ["b64"], b64: false }, claims())],
    ["crit unknown", make({ ...HS, crit: ["exp"], exp: 1 }, claims())],
    ["crit empty", make({ ...HS, crit: [] }, claims())],
    ["b64 false without crit", make({ ...HS, b64: false }, claims())],
    ["two segments", `${h}.${p}`],
    ["four segments", `${valid}.x`],
    ["signature truncated", `${h}.${p}.${s.slice(0, 20)}`],
    ["signature empty", `${h}.${p}.`],
    ["signature with a dangling last character", `${h}.${p}.${s}A`],
    ["header with a dangling last character", `${h}A.${p}.${s}`],
    ["signature with a bad character", `${h}.${p}.${s.slice(0, -1)}*`],
    ["header segment with a bad character", `*${h}.${p}.${s}`],
    ["just dots", ".."],
    ["garbage", "hello"],
    // Checked again, now that the header above is known (hs256.ts keeps the headers it accepted).
    ["valid again", valid],
    ["alg HS512 again", make({ alg: "HS512" }, claims(), SECRET, "sha512")],
  ];
}

async function compare(yaml: string) {
  const cfg = testConfig(yaml);
  const native = createVerifier(cfg);
  const jose = createVerifier(cfg, { engine: "jose" });
  for (const [name, token] of cases()) {
    const [a, b] = [await outcome(native, token), await outcome(jose, token)];
    expect({ name, ...a }).toEqual({ name, ...b });
  }
}

describe("native HS256 verification matches jose", () => {
  test("on valid and hostile tokens, without an audience", () => compare(""));

  test("on valid and hostile tokens, with an audience", async () => {
    await compare("auth: {jwt: {audience: app}}");
    const cfg = testConfig("auth: {jwt: {audience: app}}");
    const native = createVerifier(cfg);
    const jose = createVerifier(cfg, { engine: "jose" });
    for (const aud of [undefined, "app", "other", ["x", "app"], ["x"], [], 5]) {
      const t = make(HS, aud === undefined ? claims() : claims({ aud }));
      expect({ aud, ...(await outcome(native, t)) }).toEqual({ aud, ...(await outcome(jose, t)) });
    }
  });

  test("with rooms: claim, a token without the claim may join no room", async () => {
    const cfg = testConfig("auth: {rooms: claim}");
    const t = make(HS, claims());
    expect(await outcome(createVerifier(cfg), t)).toEqual(await outcome(createVerifier(cfg, { engine: "jose" }), t));
  });

  test("stricter than jose in one corner: a padded signature is refused", async () => {
    const [h, p, s] = make(HS, claims()).split(".") as [string, string, string];
    const padded = `${h}.${p}.${s}=`;
    expect(await outcome(createVerifier(testConfig()), padded)).toEqual({ reason: "token invalid", kind: "invalid" });
  });
});
