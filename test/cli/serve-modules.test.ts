/**
 * `comet serve` loads the npm packages its config uses, and no others: gRPC, the MQTT bridge and
 * the shared Redis log are loaded on demand (docs/architecture.md, "Parts that install
 * themselves"), and so are the CLI's table and MQTT libraries. A package loaded for nothing costs
 * idle memory and garbage-collector work on every request. Reads Bun's module registry from inside
 * the serving process (test/support/loaded-packages.ts): Bun only.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, Client, SECRET, token } from "../helpers.ts";
import { ROOT } from "../support/runtime.ts";
import { type Cli, SOURCE } from "./run.ts";
import { serveProcess } from "./serving.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-modules-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Loaded only by a config or a command that uses them. */
const ON_DEMAND = ["@grpc/grpc-js", "@grpc/proto-loader", "protobufjs", "aedes", "mqtt", "@redis/client", "cli-table3"];

/** `bun bin/comet.ts` with the preload that reports the packages loaded (Bun only, like this file). */
const PRELOADED: Cli = {
  ...SOURCE,
  argv: () => [process.execPath, "--preload", join(ROOT, "test/support/loaded-packages.ts"), join(ROOT, "bin/comet.ts")],
};

/**
 * Runs `comet serve` from source with the test secrets and `yaml` as its config; `use` gets its
 * HTTP URL once it listens. Then SIGTERM, and the packages the process had loaded by its exit.
 */
async function packagesOfServe(name: string, yaml: string, use: (url: string) => Promise<void>): Promise<string[]> {
  const config = join(dir, `${name}.yaml`);
  const report = join(dir, `${name}.json`);
  writeFileSync(config, yaml);
  const env = { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN, LOADED_PACKAGES_FILE: report };
  const s = await serveProcess(["--config", config, "--listen", "127.0.0.1:0"], env, PRELOADED);
  try {
    await use(s.url);
  } finally {
    s.proc.kill("SIGTERM");
  }
  const { code, stderr } = await s.finish();
  if (code !== 0) throw new Error(`comet serve exited ${code}:\n${stderr}`);
  return JSON.parse(readFileSync(report, "utf8")) as string[];
}

/** A session, a Publish to it over HTTP, its PUSH; then the admin and probe routes. */
async function traffic(url: string): Promise<void> {
  const c = new Client(`${url.replace("http", "ws")}/comet/Comet/Subscribe`);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: await token("lazy") }, join: { rid: "hall" } });
  const post = (method: string, body: unknown) =>
    fetch(`${url}/comet/Comet/${method}`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify(body),
    }).then((r) => r.text());
  // A successful AUTH sends nothing back: the session is seen in the dump.
  const deadline = Date.now() + 5000;
  while (!(await post("DumpSession", {})).includes('"lazy"')) {
    if (c.closeInfo || Date.now() > deadline) throw new Error(`no session: ${JSON.stringify(c.closeInfo)}`);
    await Bun.sleep(20);
  }
  await post("Publish", { uid: "lazy", evt: "one" });
  await post("Broadcast", { rid: "hall", evt: "two" });
  expect(await c.waitPushes(2)).toEqual(["one", "two"]);
  await post("DumpSession", {});
  await post("Presence", { uids: ["lazy"] });
  for (const path of ["/metrics", "/readyz", "/healthz"]) await (await fetch(`${url}${path}`)).text();
  c.close();
  await c.closed;
}

test("serve with the default config loads only jose, yaml and commander", async () => {
  const loaded = await packagesOfServe("default", "", traffic);
  expect(loaded.filter((p) => ON_DEMAND.includes(p))).toEqual([]);
  expect(loaded).toEqual(["commander", "jose", "yaml"]);
}, 30_000);

test("serve with the benchmark's config (bench/lib/targets.ts) loads the same", async () => {
  // Its secrets in the file; log level info (the bench's is warn) for the "listening" line.
  const yaml = [
    "namespace: io.goeasy",
    `auth:\n  jwt:\n    hs256_secret: "${SECRET}"`,
    `admin:\n  tokens: ["${ADMIN}"]`,
    "log:\n  level: info",
    "limits: {max_batch_commands: 1000}",
  ].join("\n");
  const loaded = await packagesOfServe("bench", yaml, traffic);
  expect(loaded).toEqual(["commander", "jose", "yaml"]);
}, 30_000);

test("gRPC, the embedded broker and the shared log load their packages when configured", async () => {
  // Nothing listens on port 1: the log is not reachable, the start goes on after its wait, not ready.
  const yaml = [
    "grpc:\n  listen: 127.0.0.1:0",
    "mqtt:\n  embedded:\n    listen: 127.0.0.1:0",
    "history:\n  store: redis\n  redis:\n    urls: [redis://127.0.0.1:1]",
  ].join("\n");
  const loaded = await packagesOfServe("all", yaml, async () => {});
  for (const p of ["@grpc/grpc-js", "@grpc/proto-loader", "aedes", "mqtt", "@redis/client"]) expect(loaded).toContain(p);
  expect(loaded).not.toContain("cli-table3");
}, 30_000);
