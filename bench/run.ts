/**
 * The bench suite: runs each scenario against fresh servers pinned to CPU 0, with load generators
 * pinned to CPU 1, prints a table per scenario (the floor beside Comet where there is one), checks
 * the targets of issue 8, and writes everything as JSON under bench/results/.
 *
 *   bun run bench                 # quick profile, about a minute
 *   bun run bench -- --full       # the large one: 10,000 fanout, 19,000 idle connections, 10,000 storm
 *   bun bench/run.ts --only compression   # 2 KiB JSON fanout, websocket.compression off vs on
 *   bun bench/run.ts --only sse           # fanout to WebSockets vs to SSE streams
 *   bun bench/run.ts --only history-store # unicast, Batch, fanout with history.store memory vs redis
 *   bun bench/run.ts --only fanout,storm --repeat 2
 *
 * Options: --full | --tiny (smoke test) · --only LIST · --repeat N (medians, and the median of each run's ratio to the floor run beside it) ·
 * --runtime bun|deno (Comet's; the floor is Bun) · --out DIR · --no-floor · --log-level LEVEL (Comet's, default warn) · --per-gen N (subscribers per
 * generator process, default 10000) · --concurrency N (handshakes in flight per generator) ·
 * --cpu-prof DIR (each server writes a Bun CPU profile there when it stops; see bench/prof-top.ts) ·
 * --workers N (Comet as `serve --workers N`: its supervisor and workers on every CPU, not pinned to
 * CPU 0, their CPU time and RSS summed; the floor stays one process on CPU 0).
 */
import { resolve } from "node:path";
import { targets, targetTable } from "./lib/goals.ts";
import type { Ctx, Result } from "./lib/harness.ts";
import { parseArgs, type ResultName, type ScenarioName } from "./lib/options.ts";
import { killAll, pinSelf } from "./lib/procs.ts";
import { machine, medianResult, printScenario, type RunError, writeReport } from "./lib/report.ts";
import { connectScenario } from "./scenarios/connect.ts";
import { fanoutScenario } from "./scenarios/fanout.ts";
import { mqttScenario } from "./scenarios/mqtt.ts";
import { lightScenario } from "./scenarios/light.ts";
import { stormScenario } from "./scenarios/storm.ts";
import { unicastScenario } from "./scenarios/unicast.ts";
import { batchScenario } from "./scenarios/batch.ts";
import { compressionScenario } from "./scenarios/compression.ts";
import { sseScenario } from "./scenarios/sse.ts";
import { storeScenario } from "./scenarios/store.ts";

export async function main(argv: string[]): Promise<number> {
  const args = parseArgs(argv);
  const root = resolve(import.meta.dir, "..");
  pinSelf();
  const ctx: Ctx = {
    root,
    maxSeconds: args.profile.name === "full" ? 900 : 300,
    perGen: args.perGen,
    concurrency: args.concurrency,
    logLevel: args.logLevel,
    cpuProfDir: args.cpuProf,
    runtime: args.runtime,
    workers: args.workers,
    log: (msg) => process.stderr.write(`${msg}\n`),
  };
  const p = args.profile;
  const started = new Date();
  const info = machine();
  console.log(
    `# comet bench: profile ${p.name}, Comet on ${args.runtime}, ${info.cores} cores (${info.cpu}), Bun ${info.bun}, load ${info.loadavg_start.join(" ")}` +
      `\n# ${args.workers > 1 ? `Comet with --workers ${args.workers} on CPUs 0-1 (the floor on CPU 0)` : "server pinned to CPU 0"}, generators to CPU 1; repeat ${args.repeat}, medians shown\n`,
  );
  const jobs: Array<{ name: ScenarioName; target: string; run: () => Promise<Result | Result[]> }> = [];
  const floor = (name: ScenarioName, run: (k: "comet" | "floor") => Promise<Result | Result[]>) => {
    if (args.floor) jobs.push({ name, target: "floor", run: () => run("floor") });
    jobs.push({ name, target: "comet", run: () => run("comet") });
  };
  for (const s of args.only) {
    if (s === "connect") floor(s, (k) => connectScenario(ctx, k, p.connect));
    if (s === "fanout") {
      // Saturated, per target; light, both targets side by side (scenarios/light.ts).
      floor(s, (k) => fanoutScenario(ctx, k, { ...p.fanout, lightBroadcasts: 0 }));
      const kinds: Array<"comet" | "floor"> = args.floor ? ["floor", "comet"] : ["comet"];
      const light = { clients: p.fanout.clients, broadcasts: p.fanout.lightBroadcasts, rate: p.fanout.lightRate };
      jobs.push({ name: s, target: kinds.join("+"), run: () => lightScenario(ctx, light, kinds) });
    }
    if (s === "unicast") floor(s, (k) => unicastScenario(ctx, k, p.unicast));
    if (s === "batch") floor(s, (k) => batchScenario(ctx, k, p.batch));
    if (s === "storm") jobs.push({ name: s, target: "comet", run: () => stormScenario(ctx, p.storm) });
    if (s === "mqtt-ingest") floor(s, (k) => mqttScenario(ctx, k, p.mqtt));
    if (s === "compression") {
      // Comet against itself: websocket.compression off, then on with clients that offer it.
      for (const mode of ["plain", "deflate"] as const)
        jobs.push({ name: s, target: mode, run: () => compressionScenario(ctx, mode, p.compression) });
    }
    // history.store memory, then redis: unicast, Batch and fanout saturated; Redis's memory after.
    if (s === "history-store") jobs.push({ name: s, target: "memory+redis", run: () => storeScenario(ctx, p) });
    if (s === "sse") {
      // Comet against itself: the same room fanout to WebSockets, then to SSE streams.
      for (const mode of ["websocket", "sse"] as const)
        jobs.push({ name: s, target: mode, run: () => sseScenario(ctx, mode, p.sse) });
    }
  }

  const runs = new Map<string, Result[]>();
  const errors: RunError[] = [];
  // Repeats interleave the targets (floor, comet, floor, comet), so both see the same machine.
  for (const name of args.only) {
    const mine = jobs.filter((j) => j.name === name);
    for (let r = 0; r < args.repeat; r++) {
      for (const j of mine) {
        const key = `${j.name}/${j.target}`;
        ctx.log(`· ${key} (run ${r + 1} of ${args.repeat})`);
        try {
          const got = await j.run();
          const list = Array.isArray(got) ? got : [got];
          for (const res of list) {
            const k = `${res.scenario}/${res.target}`;
            runs.set(k, [...(runs.get(k) ?? []), res]);
          }
        } catch (e) {
          const msg = (e as Error).message;
          ctx.log(`  ${key} failed: ${msg}`);
          errors.push({ scenario: j.name, target: j.target, error: msg });
        }
      }
      // Every target runs once, so each says why it skipped (no broker: both; no bridge: Comet).
      if (mine.some((j) => runs.get(`${j.name}/${j.target}`)?.some((x) => x.skipped))) break;
    }
    const rows: Record<string, ResultName[]> = {
      fanout: ["fanout", "fanout-light"],
      unicast: ["unicast", "unicast-paced"],
      batch: ["batch", "batch-paced"],
      "history-store": ["store-unicast", "store-batch", "store-fanout", "store-redis-memory"],
    };
    for (const rn of rows[name] ?? [name]) {
      const medians: Result[] = [];
      // Per target that reported this result, in the order they ran.
      for (const key of [...runs.keys()].filter((k) => k.startsWith(`${rn}/`))) {
        const m = medianResult(runs.get(key) ?? []);
        if (m) medians.push(m);
      }
      printScenario(rn, medians, runs);
    }
  }

  const medianAll = new Map<string, Result>();
  for (const [key, rs] of runs) {
    const m = medianResult(rs);
    if (m) medianAll.set(key, m);
  }
  const t = targets(medianAll, runs);
  console.log(
    `## targets (issue 32's ratios to the floor, issue 8's latency and storm; set for --full)${p.name === "full" ? "" : `: this is the ${p.name} profile`}\n`,
  );
  console.log(`${targetTable(t)}\n`);
  const file = writeReport(args, started, info, runs, t, errors);
  console.log(`\nresults: ${file}`);
  return errors.length > 0 ? 1 : 0;
}

if (import.meta.main) {
  const cleanup = () => killAll();
  process.on("exit", cleanup);
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(130);
    });
  }
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e: unknown) => {
      console.error(`bench: ${(e as Error).stack ?? e}`);
      process.exit(1);
    },
  );
}
