/**
 * Every config failure, wherever it is found (the loader, or a check at start that reads a key's
 * file or weighs keys together), stops `comet serve` with exit 2 and one line that names the key;
 * `comet config check` finds the same, in the same words, without starting a server.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, SECRET } from "../helpers.ts";
import { oneLine, run, SOURCE } from "./run.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-config-errors-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

const admin = `admin: {tokens: [${ADMIN}]}\n`;
const hs256 = `auth: {jwt: {hs256_secret: ${SECRET}}}\n`;
const absent = join(dir, "absent.pem");
const notPem = file("not.pem", "this is no key\n");
const pem = (k: KeyObject): string => k.export({ type: "spki", format: "pem" }).toString();
const p521 = file("p521.pem", pem(generateKeyPairSync("ec", { namedCurve: "P-521" }).publicKey));
const notJson = file("broken.json", '{"keys": [');
const notJwks = file("keys5.json", '{"keys": 5}');
const x25519 = file("x25519.pem", pem(generateKeyPairSync("x25519").publicKey));

/** [what, the file beyond the admin token, the key named, what the line says after it] */
const BAD_CONFIGS: Array<[string, string, string, string]> = [
  [
    "a public_key_file that does not exist",
    `auth: {jwt: {public_key_file: ${absent}}}`,
    "auth.jwt.public_key_file",
    `cannot read ${absent}`,
  ],
  [
    "a public_key_file that holds no key",
    `auth: {jwt: {public_key_file: ${notPem}}}`,
    "auth.jwt.public_key_file",
    `${notPem} is not a PEM public key`,
  ],
  [
    "a public key on a curve no algorithm here uses",
    `auth: {jwt: {public_key_file: ${p521}}}`,
    "auth.jwt.public_key_file",
    `${p521}: expected an EC key on P-256 (ES256) or P-384 (ES384), got one on secp521r1`,
  ],
  [
    "a public key of a type that signs no JWT",
    `auth: {jwt: {public_key_file: ${x25519}}}`,
    "auth.jwt.public_key_file",
    `${x25519}: expected an RSA, EC or Ed25519 public key, got x25519`,
  ],
  [
    "a jwks_file that is not JSON",
    `auth: {jwt: {jwks_file: ${notJson}}}`,
    "auth.jwt.jwks_file",
    `cannot read a JSON document from ${notJson}`,
  ],
  [
    "a jwks_file that is JSON but no JWKS",
    `auth: {jwt: {jwks_file: ${notJwks}}}`,
    "auth.jwt.jwks_file",
    `${notJwks} is not a JWKS`,
  ],
  [
    "two JWT key sources",
    `auth: {jwt: {hs256_secret: ${SECRET}, jwks_file: /etc/hostname}}`,
    "auth.jwt",
    "2 keys configured: set only one of hs256_secret, public_key_file, jwks_file",
  ],
  [
    "a trusted_proxies entry that is no address",
    `${hs256}trusted_proxies: [10.0.0.1, proxy.internal]`,
    "trusted_proxies[1]",
    'expected an IP address or CIDR range like 10.0.0.0/8, got "proxy.internal"',
  ],
  [
    "a trusted_proxies prefix past 32",
    `${hs256}trusted_proxies: [10.0.0.0/33]`,
    "trusted_proxies[0]",
    'expected a prefix length from 0 to 32 after "/", got "10.0.0.0/33"',
  ],
  [
    "a trusted_proxies entry with an empty prefix (it would trust every address)",
    `${hs256}trusted_proxies: [10.0.0.0/]`,
    "trusted_proxies[0]",
    'expected a prefix length from 0 to 32 after "/", got "10.0.0.0/"',
  ],
  [
    "tls.cert_file without tls.key_file",
    `${hs256}tls: {cert_file: ${notPem}}`,
    "tls.key_file",
    "empty, but tls.cert_file is set: set both tls.cert_file and tls.key_file, or neither",
  ],
  [
    "a tls.cert_file that does not exist",
    `${hs256}tls: {cert_file: ${absent}, key_file: ${notPem}}`,
    "tls.cert_file",
    `cannot read ${absent}`,
  ],
  [
    "a history.redis URL that is not Redis's",
    `${hs256}history: {store: redis, redis: {urls: ["redis://127.0.0.1:6379", "http://127.0.0.1:6379"]}}`,
    "history.redis.urls[1]",
    "expected redis:// or rediss://, got http://",
  ],
];

describe("comet serve: a bad config exits 2 with one line that names the key", () => {
  test.each(BAD_CONFIGS)("%s", async (_what, yaml, key, says) => {
    const config = file("serve.yaml", `${admin}${yaml}\n`);
    const r = await run(SOURCE, ["serve", "--config", config, "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toStartWith(`comet: config: ${key}: ${says}`);
  });
});

describe("comet config check: the same config, the same line, no server", () => {
  test.each(BAD_CONFIGS)("%s", async (_what, yaml, key, says) => {
    const config = file("check.yaml", `${admin}${yaml}\n`);
    const r = await run(SOURCE, ["config", "check", config]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toStartWith(`comet: config: ${key}: ${says}`);
    const json = await run(SOURCE, ["config", "check", "--json", config]);
    expect(json.code).toBe(2);
    const answer = JSON.parse(json.stdout);
    expect(answer).toMatchObject({ ok: false, key });
    expect(answer.error).toStartWith(`config: ${key}: ${says}`);
  });
});
