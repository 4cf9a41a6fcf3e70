/**
 * The bench suite: runs each scenario against fresh servers pinned to CPU 0, with load generators
 * pinned to CPU 1, prints a table per scenario (the floor beside Comet where there is one), checks
 * the targets of issue 8, and writes everything as JSON under bench/results/.
 *
 *   bun run bench                 # quick profile, about a minute
 *   bun run bench -- --full       # the large one: 10,000 fanout, 19,000 idle connections, 10,000 storm
 *   bun bench/run.ts --only fanout,storm --repeat 2
 *
 * Options: --full | --tiny (smoke test) · --only LIST · --repeat N (keep the best run) ·
 * --runtime bun|deno (Comet's; the floor is Bun) · --out DIR · --no-floor · --log-level LEVEL (Comet's, default warn) · --per-gen N (subscribers per
 * generator process, default 10000) · --concurrency N (handshakes in flight per generator) ·
 * --cpu-prof DIR (each server writes a Bun CPU profile there when it stops; see bench/prof-top.ts).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join, resolve } from "node:path";
import type { Ctx, Result } from "./lib/harness.ts";
import { parseArgs, type ResultName, type ScenarioName } from "./lib/options.ts";
import { killAll, pinSelf } from "./lib/procs.ts";
import { connectScenario } from "./scenarios/connect.ts";
import { fanoutScenario } from "./scenarios/fanout.ts";
import { mqttScenario } from "./scenarios/mqtt.ts";
import { lightScenario } from "./scenarios/light.ts";
import { stormScenario } from "./scenarios/storm.ts";
import { unicastScenario } from "./scenarios/unicast.ts";

/** Which run of several is the better one, per scenario. */
const BEST: Record<ResultName, { metric: string; higher: boolean }> = {
  connect: { metric: "rss_per_conn_kib", higher: false },
  fanout: { metric: "deliveries_per_cpu_s", higher: true },
  "fanout-light": { metric: "last_client_p50_ms", higher: false },
  "unicast-paced": { metric: "p99_ms", higher: false },
  unicast: { metric: "publishes_per_s", higher: true },
  storm: { metric: "back_s", higher: false },
  "mqtt-ingest": { metric: "events_per_s", higher: true },
};

type Cell = number | string | null | undefined;

function fmt(v: Cell): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : String(v);
  return v;
}

/** A Markdown table: one row per metric, one column per target, and comet/floor where both ran. */
export function table(results: Result[]): string {
  const cols = results.map((r) => r.target);
  const withRatio = cols.includes("comet") && cols.includes("floor");
  const header = ["metric", ...cols, ...(withRatio ? ["comet / floor"] : [])];
  const names: string[] = [];
  for (const r of results) for (const k of Object.keys(r.metrics)) if (!names.includes(k)) names.push(k);
  const rows: string[][] = [];
  for (const k of names) {
    const vals = results.map((r) => r.metrics[k]);
    const row = [k, ...vals.map(fmt)];
    if (withRatio) {
      const c = results.find((r) => r.target === "comet")?.metrics[k];
      const f = results.find((r) => r.target === "floor")?.metrics[k];
      row.push(typeof c === "number" && typeof f === "number" && f !== 0 ? `${(c / f).toFixed(2)}×` : "");
    }
    rows.push(row);
  }
  const all = [header, ...rows];
  const w = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i] as number) : c.padStart(w[i] as number))).join(" | ")} |`;
  return [
    line(header),
    `|${w.map((n, i) => (i === 0 ? "-".repeat(n + 2) : `${"-".repeat(n + 1)}:`)).join("|")}|`,
    ...rows.map(line),
  ].join("\n");
}

interface Target {
  what: string;
  measured: string;
  goal: string;
  met: boolean | null;
}

function targets(best: Map<string, Result>): Target[] {
  const m = (scenario: string, target: string, k: string): number | undefined => {
    const v = best.get(`${scenario}/${target}`)?.metrics[k];
    return typeof v === "number" ? v : undefined;
  };
  const ratio = (s: string, k: string) => {
    const c = m(s, "comet", k);
    const f = m(s, "floor", k);
    return c !== undefined && f !== undefined && f > 0 ? c / f : undefined;
  };
  const out: Target[] = [];
  const pct = (x: number | undefined) => (x === undefined ? "–" : `${(x * 100).toFixed(0)} %`);
  const times = (x: number | undefined) => (x === undefined ? "–" : `${x.toFixed(2)}×`);
  const r1 = ratio("fanout", "deliveries_per_cpu_s");
  out.push({
    what: "fanout deliveries per server CPU-second vs floor",
    measured: pct(r1),
    goal: "≥ 80 %",
    met: r1 === undefined ? null : r1 >= 0.8,
  });
  const r2 = ratio("fanout-light", "last_client_p50_ms");
  out.push({
    what: "light broadcast, last client (median) vs floor",
    measured: times(r2),
    goal: "≤ 1.20×",
    met: r2 === undefined ? null : r2 <= 1.2,
  });
  const r3 = ratio("connect", "rss_per_conn_kib");
  out.push({
    what: "idle RSS per connection vs floor",
    measured: times(r3),
    goal: "≤ 1.50×",
    met: r3 === undefined ? null : r3 <= 1.5,
  });
  const u = m("unicast", "comet", "publishes_per_s");
  out.push({
    what: "unicast publishes per second",
    measured: fmt(u),
    goal: "≥ 50,000",
    met: u === undefined ? null : u >= 50_000,
  });
  const up = m("unicast-paced", "comet", "p99_ms");
  const uh = m("unicast-paced", "comet", "http_p99_ms");
  out.push({
    what: "unicast p99 at 25k/s (delivery / HTTP)",
    measured: up === undefined ? "–" : `${up} / ${uh} ms`,
    goal: "< 10 ms",
    met: up === undefined || uh === undefined ? null : up < 10 && uh < 10,
  });
  const st = m("storm", "comet", "back_s");
  out.push({
    what: "reconnect storm, all back",
    measured: st === undefined ? "–" : `${st} s`,
    goal: "≤ 2 s",
    met: st === undefined ? null : st <= 2,
  });
  const mq = best.get("mqtt-ingest/comet");
  const ev = m("mqtt-ingest", "comet", "events_per_s");
  out.push({
    what: "MQTT ingest events per second",
    measured: mq?.skipped ?? fmt(ev),
    goal: "≥ 50,000",
    met: ev === undefined ? null : ev >= 50_000,
  });
  return out;
}

export function targetTable(t: Target[]): string {
  const rows = t.map((x) => [x.what, x.measured, x.goal, x.met === null ? "not measured" : x.met ? "met" : "MISSED"]);
  const all = [["target", "measured", "goal", "result"], ...rows];
  const w = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i] as number)).join(" | ")} |`;
  return [line(all[0]!), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}

function machine() {
  const bun = Bun.version;
  const ulimit = Bun.spawnSync(["sh", "-c", "ulimit -Hn"]).stdout.toString().trim();
  return {
    cpu: cpus()[0]?.model ?? "?",
    cores: cpus().length,
    kernel: release(),
    bun,
    open_files_hard_limit: Number(ulimit),
    loadavg_start: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

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
    log: (msg) => process.stderr.write(`${msg}\n`),
  };
  const p = args.profile;
  const started = new Date();
  const info = machine();
  console.log(
    `# comet bench: profile ${p.name}, Comet on ${args.runtime}, ${info.cores} cores (${info.cpu}), Bun ${info.bun}, load ${info.loadavg_start.join(" ")}` +
      `\n# server pinned to CPU 0, generators to CPU 1; repeat ${args.repeat}, best run shown\n`,
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
    if (s === "storm") jobs.push({ name: s, target: "comet", run: () => stormScenario(ctx, p.storm) });
    if (s === "mqtt-ingest") jobs.push({ name: s, target: "comet", run: () => mqttScenario(ctx, p.mqtt) });
  }

  const runs = new Map<string, Result[]>();
  const errors: Array<{ scenario: string; target: string; error: string }> = [];
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
          if (list.some((res) => res.skipped)) break;
        } catch (e) {
          const msg = (e as Error).message;
          ctx.log(`  ${key} failed: ${msg}`);
          errors.push({ scenario: j.name, target: j.target, error: msg });
        }
      }
      if (mine.some((j) => runs.get(`${j.name}/${j.target}`)?.some((x) => x.skipped))) break;
    }
    const rows: Record<string, ResultName[]> = {
      fanout: ["fanout", "fanout-light"],
      unicast: ["unicast", "unicast-paced"],
    };
    for (const rn of rows[name] ?? [name]) {
      const best: Result[] = [];
      for (const j of mine) {
        const b = pickBest(rn, runs.get(`${rn}/${j.target}`) ?? []);
        if (b) best.push(b);
      }
      printScenario(rn, best, runs);
    }
  }

  const bestAll = new Map<string, Result>();
  for (const [key, rs] of runs) {
    const b = pickBest(key.split("/")[0] as ResultName, rs);
    if (b) bestAll.set(key, b);
  }
  const t = targets(bestAll);
  console.log(
    `## targets (issue 8; set for --full)${p.name === "full" ? "" : ": this is the " + p.name + " profile"}\n`,
  );
  console.log(`${targetTable(t)}\n`);
  const report = {
    profile: p.name,
    started: started.toISOString(),
    finished: new Date().toISOString(),
    machine: { ...info, loadavg_end: loadavg().map((x) => Math.round(x * 100) / 100) },
    options: {
      repeat: args.repeat,
      floor: args.floor,
      log_level: args.logLevel,
      per_gen: args.perGen,
      concurrency: args.concurrency,
    },
    profile_params: p,
    results: [...runs.entries()].map(([key, rs]) => ({
      key,
      best: pickBest(key.split("/")[0] as ResultName, rs),
      runs: rs,
    })),
    targets: t,
    errors,
  };
  mkdirSync(args.out, { recursive: true });
  const file = join(args.out, `${started.toISOString().replace(/[:.]/g, "-")}-${p.name}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
  return errors.length > 0 ? 1 : 0;
}

function pickBest(name: ResultName, rs: Result[]): Result | undefined {
  const b = BEST[name];
  let best: Result | undefined;
  for (const r of rs) {
    const v = r.metrics[b.metric];
    const bv = best?.metrics[b.metric];
    if (!best || (typeof v === "number" && (typeof bv !== "number" || (b.higher ? v > bv : v < bv)))) best = r;
  }
  return best;
}

function printScenario(name: string, best: Result[], runs: Map<string, Result[]>): void {
  const skipped = best.find((r) => r.skipped);
  const params = best[0]?.params ?? {};
  const n = Math.max(0, ...best.map((r) => runs.get(`${r.scenario}/${r.target}`)?.length ?? 0));
  console.log(
    `## ${name}  ${Object.entries(params)
      .map(([k, v]) => `${k}=${fmt(v)}`)
      .join(" ")}  (${n} run${n === 1 ? "" : "s"})\n`,
  );
  if (skipped) console.log(`| ${name} | ${skipped.skipped} |\n|---|---|\n`);
  else if (best.length === 0) console.log("(failed: see above)\n");
  else console.log(`${table(best)}\n`);
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
