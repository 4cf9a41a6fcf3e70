/**
 * `comet config defaults` and `comet config check FILE`, run as processes: the defaults are
 * config.example.yaml byte for byte, and check judges a file as serve would, without serving.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, SECRET } from "../helpers.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";
import { oneLine, ROOT, run, SOURCE } from "./run.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXAMPLE = join(ROOT, "config.example.yaml");
/** What serve needs beside the file, from the environment as the docs advise for secrets. */
const SECRETS = { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN };

const file = (name: string, text: string): string => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe("comet config defaults", () => {
  test("prints config.example.yaml, byte for byte", async () => {
    const r = await run(SOURCE, ["config", "defaults"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    // On a difference: `comet config defaults > config.example.yaml`, the schema's docs are the source.
    expect(r.stdout).toBe(readFileSync(EXAMPLE, "utf8"));
  });
});

describe("comet config check", () => {
  test("config.example.yaml, with the secrets serve needs from the environment: ok, exit 0", async () => {
    const r = await run(SOURCE, ["config", "check", EXAMPLE], { env: SECRETS });
    expect(r).toEqual({ code: 0, stdout: `${EXAMPLE}: ok\n`, stderr: "" });
    const json = await run(SOURCE, ["config", "check", "--json", EXAMPLE], { env: SECRETS });
    expect(json).toEqual({ code: 0, stdout: '{"ok":true}\n', stderr: "" });
  });

  test("without a JWT key anywhere it is refused as serve refuses it, naming auth.jwt", async () => {
    const r = await run(SOURCE, ["config", "check", EXAMPLE], { env: { COMET_ADMIN_TOKENS: ADMIN } });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(oneLine(r.stderr)).toStartWith("comet: config: auth.jwt: no JWT key configured: set auth.jwt.hs256_secret");
  });

  test("a bad value exits 2 naming the key; --json gives the key and the message on stdout", async () => {
    const bad = file("bad.yaml", "heartbeat:\n  interval: soon\n");
    const r = await run(SOURCE, ["config", "check", bad], { env: SECRETS });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    const line = 'config: heartbeat.interval: expected a duration like "30s" (units: ms, s, m, h), got "soon"';
    expect(oneLine(r.stderr)).toBe(`comet: ${line}`);
    const json = await run(SOURCE, ["config", "check", bad, "--json"], { env: SECRETS });
    expect(json.code).toBe(2);
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, key: "heartbeat.interval", error: line });
  });

  test("an unknown key, a key given twice, a value from the environment: each named", async () => {
    const unknown = await run(SOURCE, ["config", "check", file("unknown.yaml", "tls:\n  cert: a.pem\n")]);
    expect(unknown.code).toBe(2);
    expect(oneLine(unknown.stderr)).toBe("comet: config: tls.cert: unknown key (known here: cert_file, key_file)");
    const dup = file("dup.yaml", "namespace: a\nlimits:\n  uplink_rate: 1\n  uplink_rate: 2\n");
    const twice = await run(SOURCE, ["config", "check", dup, "--json"], { env: SECRETS });
    expect(twice.code).toBe(2);
    expect(JSON.parse(twice.stdout)).toEqual({
      ok: false,
      key: "limits.uplink_rate",
      error: `config: ${dup}:4: limits.uplink_rate: key given twice`,
    });
    const env = await run(SOURCE, ["config", "check", EXAMPLE], { env: { ...SECRETS, COMET_WORKERS: "many" } });
    expect(env.code).toBe(2);
    expect(oneLine(env.stderr)).toBe(
      'comet: config: workers (from COMET_WORKERS): expected a whole number, got "many"',
    );
  });

  test("a file that cannot be read exits 2 naming the file", async () => {
    const absent = join(dir, "absent.yaml");
    const r = await run(SOURCE, ["config", "check", absent], { env: SECRETS });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toStartWith(`comet: config: cannot read ${absent}: ENOENT`);
    const json = await run(SOURCE, ["config", "check", "--json", dir], { env: SECRETS });
    expect(json.code).toBe(2);
    const answer = JSON.parse(json.stdout);
    expect(answer).toMatchObject({ ok: false, key: null });
    expect(answer.error).toStartWith(`config: cannot read ${dir}: `);
  });

  test("starts no server: a listen address some process holds is no failure", async () => {
    const held = net.createServer();
    await new Promise<void>((resolve) => held.listen({ host: "127.0.0.1", port: 0 }, () => resolve()));
    try {
      const port = (held.address() as net.AddressInfo).port;
      const config = file("held.yaml", `listen: 127.0.0.1:${port}\n`);
      const r = await run(SOURCE, ["config", "check", config], { env: SECRETS });
      expect(r).toEqual({ code: 0, stdout: `${config}: ok\n`, stderr: "" });
    } finally {
      held.close();
    }
  });

  test("what the runtime running it does not serve is refused there, as serve refuses it", async () => {
    for (const [yaml, line] of [
      ["ui: {enabled: true}", "ui.enabled: true, but the demo page is not served on deno: set it false, or run on Bun"],
      ["workers: 2", "workers: 2 worker processes are served on Bun only; run one instance per core under deno"],
    ] as const) {
      const r = await run(SOURCE, ["config", "check", file("bun-only.yaml", `${yaml}\n`)], { env: SECRETS });
      if (TEST_RUNTIME === "bun") expect(r.code).toBe(0);
      else {
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toStartWith(`comet: config: ${line}`);
      }
    }
  });

  test("a missing FILE is a usage error", async () => {
    const r = await run(SOURCE, ["config", "check"]);
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toBe(
      "comet: config check: missing required argument 'file' (see comet config check --help)",
    );
  });
});
