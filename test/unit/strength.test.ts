/** The settings too weak to start with: where the lines are, and that a server refuses them. */
import { describe, expect, test } from "bun:test";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { checkStrength, generateSecret } from "../../src/config/strength.ts";
import { startServer } from "../../src/server.ts";
import { ADMIN, SECRET } from "../helpers.ts";

const config = (secret: string, tokens: string[], clusterKey = "") =>
  loadConfig({
    yaml: JSON.stringify({ admin: { tokens }, mqtt: { cluster_key: clusterKey } }),
    env: { COMET_AUTH_JWT_HS256_SECRET: secret },
    overrides: { listen: "127.0.0.1:0" },
  });

const refusal = (secret: string, tokens: string[], clusterKey = ""): string | undefined => {
  try {
    checkStrength(config(secret, tokens, clusterKey));
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
};

describe("hs256_secret", () => {
  test("31 bytes are refused, 32 accepted; counted in UTF-8 bytes, as the key is used", () => {
    expect(refusal("x".repeat(31), [ADMIN])).toBe(
      "config: auth.jwt.hs256_secret: 31 bytes, at least 32 are needed (RFC 7518 §3.2): generate one with `comet token --gen-secret`",
    );
    expect(refusal("x".repeat(32), [ADMIN])).toBeUndefined();
    // 16 characters of two bytes each: 32 bytes.
    expect(refusal("é".repeat(16), [ADMIN])).toBeUndefined();
    expect(refusal(`${"é".repeat(15)}x`, [ADMIN])).toContain(": 31 bytes,");
  });

  test("the message never carries the secret", () => {
    expect(refusal("hunter2hunter2", [ADMIN])).not.toContain("hunter2");
  });

  test("no secret (a public key or JWKS instead) is not this check's concern", () => {
    expect(refusal("", [ADMIN])).toBeUndefined();
  });
});

describe("admin.tokens", () => {
  test("15 characters are refused, 16 accepted; the token is named by its place, not its value", () => {
    const msg = refusal(SECRET, [ADMIN, "fifteen-chars-x"]);
    expect(msg).toBe(
      "config: admin.tokens[1]: 15 characters, at least 16 are needed: generate one with `comet token --gen-secret`",
    );
    expect(refusal(SECRET, [ADMIN, "sixteen-chars-xx"])).toBeUndefined();
  });

  test("an empty token is refused", () => {
    expect(refusal(SECRET, ["", ADMIN])).toBe(
      "config: admin.tokens[0]: empty, at least 16 are needed: generate one with `comet token --gen-secret`",
    );
  });
});

describe("mqtt.cluster_key", () => {
  test("31 bytes are refused, 32 accepted, counted in UTF-8 bytes; the message names the key, not its value", () => {
    expect(refusal(SECRET, [ADMIN], "k".repeat(31))).toBe(
      "config: mqtt.cluster_key: 31 bytes, at least 32 are needed: generate one with `comet token --gen-secret`",
    );
    expect(refusal(SECRET, [ADMIN], "k".repeat(32))).toBeUndefined();
    expect(refusal(SECRET, [ADMIN], "é".repeat(16))).toBeUndefined();
    expect(refusal(SECRET, [ADMIN], "abcde")).toBe(
      "config: mqtt.cluster_key: 5 bytes, at least 32 are needed: generate one with `comet token --gen-secret`",
    );
  });

  test("no key (no signatures) is not refused", () => {
    expect(refusal(SECRET, [ADMIN], "")).toBeUndefined();
  });
});

test("startServer refuses a weak setting before it listens", async () => {
  const err = await startServer(config("short", [ADMIN])).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ConfigError);
  expect((err as ConfigError).code).toBe("config_invalid");
});

test("a generated secret is strong enough for both, and new each time", () => {
  const a = generateSecret();
  expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(refusal(a, [a])).toBeUndefined();
  expect(generateSecret()).not.toBe(a);
});
