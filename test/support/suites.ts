/**
 * `npm test`: the whole suite on Bun, with every server in the test process; then the same test
 * files against servers in Deno processes (COMET_TEST_RUNTIME=deno), minus what stays on Bun
 * below. Fails when either run fails. Arguments are file filters, as `bun test` takes them, and
 * apply to both runs.
 */
import { Glob } from "bun";
import { existsSync } from "node:fs";
import { DENO, ROOT } from "./runtime.ts";

/** Files (or directories, ending in /) that run on Bun only, and why. */
const BUN_ONLY_FILES: Record<string, string> = {
  "test/unit/": "pure functions: no server",
  "test/client/backoff.test.ts": "a pure function: no server",
  "test/client/disconnect.test.ts": "scripted peers, no comet server",
  "test/bridge/event.test.ts": "pure functions: no server",
  "test/bridge/signature.test.ts": "pure functions: no server",
  "test/bridge/queue.test.ts": "pure functions: no server",
  "test/bridge/cluster-rule.test.ts": "a pure function: no server",
  "test/bridge/topics.test.ts": "pure functions: no server",
  "test/bridge/subscriptions.test.ts": "against a fake connection: no server",
  "test/bridge/outbox.test.ts": "against a fake connection: no server",
  "test/bridge/settings.test.ts": "config parsing: no server",
  "test/webhooks/webhook.test.ts": "the webhook module against a real receiver: no comet server",
  "test/bridge/send.test.ts": "the CLI's MQTT sender against a broker: no comet server",
  "test/broker/redis-log.test.ts": "the log module against redis-server: no comet server (it runs the module on Deno itself)",
  "test/broker/stream-order.test.ts": "the ordering module against redis-server: no comet server",
  "test/soak/": "measures the server's heap (Bun.gc) and reads its admission table, in process",
  "test/browser/": "the demo page is Bun only: a Bun macro embeds its assets",
  "test/bench/": "the benchmark harness starts its own servers under Bun, pinned with taskset",
  "test/grpc/": "gRPC is served on Bun only (refused on Deno, whose node:http2 is not tried here)",
  "test/workers/supervisor-signals.test.ts": "workers > 1 is served on Bun only (workers.test.ts tests Deno's refusal)",
  "test/workers/log-workers.test.ts": "workers > 1 is served on Bun only (workers.test.ts tests Deno's refusal)",
  "test/cli/serve-modules.test.ts": "reads the serving process's module registry, which Bun has (require.cache) and Deno does not",
  "test/cli/config-errors.test.ts":
    "twelve bad configs through the CLI: the same code on either runtime, and test/cli/serve.test.ts holds Deno's exit 2 for a bad config",
  "test/workers/scale.test.ts":
    "workers > 1 is served on Bun only (workers.test.ts tests Deno's refusal); its generators are Bun processes",
  "test/workers/storm.test.ts": "workers > 1 is served on Bun only; its generators are Bun processes",
};

/** Tests (a part of the name) that run on Bun only, and why. */
const BUN_ONLY_TESTS: Record<string, string> = {
  "outlives the runtime's idle timeout": "Bun's idle timeout on HTTP responses; Deno.serve has none to outlive",
  "a broker that stops reading: unsent bytes stay bounded": "calls hub.heard() by the hundred thousand, in process",
  "the decoder never throws": "a pure function: no server",
  "any cut of any stream": "a pure function: no server",
  "a remaining length of five bytes": "a pure function: no server",
  "a PUBLISH whose topic runs past its packet": "a pure function: no server",
  "is exported by name and as default": "no server",
  "rejects options it cannot use": "no server",
  "answers an HB probe with {t: HB}": "a fake peer, no comet server",
  "a link that brings no frame for 3 heartbeat intervals": "a fake peer, no comet server",
  "a handshake that never completes counts as a dead link": "a fake peer, no comet server",
  "a link that keeps bringing probes is not declared dead": "a fake peer, no comet server",
  "a duplicate is dropped; a skipped seq and a new epoch are gaps": "a scripted peer, no comet server",
  "positions: false speaks the original protocol": "a scripted peer, no comet server",
  "the 60 KiB payload is what it claims": "no server",
  "permessage-deflate negotiated":
    "Deno cannot negotiate it: its start with websocket.compression on is refused (tested)",
  "a ping flood is closed 4429 like a frame flood":
    "Deno answers pings itself and never shows them to the server's code",
  "a pong flood is closed 4429 like a ping flood": "Deno never shows a pong to the server's code",
};

const escapeRegExp = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

interface Outcome {
  code: number;
  pass: number;
  fail: number;
}

/** Runs bun test, its output passed through as it comes and its summary read on the way. */
async function bunTest(args: string[], env: Record<string, string | undefined>): Promise<Outcome> {
  // bunfig.toml has no key for the per-test timeout: it is a flag.
  const proc = Bun.spawn([process.execPath, "test", "--timeout", "20000", ...args], {
    cwd: ROOT,
    env,
    stdout: "pipe",
    stderr: "pipe",
  });
  let text = "";
  const pass = async (stream: ReadableStream<Uint8Array>, out: NodeJS.WriteStream) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      out.write(chunk);
      text += decoder.decode(chunk, { stream: true });
    }
  };
  const [code] = await Promise.all([proc.exited, pass(proc.stdout, process.stdout), pass(proc.stderr, process.stderr)]);
  const count = (word: string) => Number(new RegExp(`^ *(\\d+) ${word}$`, "m").exec(text)?.[1] ?? 0);
  return { code, pass: count("pass"), fail: count("fail") };
}

const filters = process.argv.slice(2);
const { COMET_TEST_RUNTIME: _, ...env } = process.env;

console.log("\n== Bun: every test, servers in this process\n");
const bun = await bunTest(filters, env);

if (!existsSync(DENO)) {
  console.error(`no Deno at ${DENO}: run npm install (the deno package is a dev dependency)`);
  process.exit(1);
}
const onBunOnly = (file: string) =>
  Object.keys(BUN_ONLY_FILES).some((f) => (f.endsWith("/") ? file.startsWith(f) : file === f));
const files = [...new Glob("test/**/*.test.ts").scanSync({ cwd: ROOT })]
  .sort()
  .filter((f) => !onBunOnly(f) && (filters.length === 0 || filters.some((x) => f.includes(x))));
const names = `^(?!.*(?:${Object.keys(BUN_ONLY_TESTS).map(escapeRegExp).join("|")}))`;

console.log(`\n== Deno: ${files.length} files against servers in Deno processes (Bun-only: test/support/suites.ts)\n`);
const deno =
  files.length === 0
    ? { code: 0, pass: 0, fail: 0 }
    : await bunTest([...files.map((f) => `./${f}`), "-t", names], { ...env, COMET_TEST_RUNTIME: "deno" });

console.log(`\nBun: ${bun.pass} pass, ${bun.fail} fail. Deno: ${deno.pass} pass, ${deno.fail} fail.`);
process.exit(bun.code !== 0 || deno.code !== 0 ? 1 : 0);
