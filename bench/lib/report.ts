/**
 * What the bench suite prints and writes: a Markdown table per scenario (the best of its runs), the
 * machine it ran on, and the whole run as JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import type { Target } from "./goals.ts";
import type { Result } from "./harness.ts";
import type { Args, ResultName } from "./options.ts";

/** A scenario that threw, by target. */
export type RunError = { scenario: string; target: string; error: string };

type Cell = number | string | null | undefined;

export function fmt(v: Cell): string {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? v.toLocaleString("en-US") : String(v);
  return v;
}

/** The targets compared side by side, as a ratio column: comet / floor, deflate / plain, sse / websocket. */
const RATIOS: ReadonlyArray<readonly [Result["target"], Result["target"]]> = [
  ["comet", "floor"],
  ["deflate", "plain"],
  ["sse", "websocket"],
];

/** A Markdown table: one row per metric, one column per target, and a ratio where a pair of RATIOS ran. */
export function table(results: Result[]): string {
  const cols = results.map((r) => r.target);
  const pair = RATIOS.find(([a, b]) => cols.includes(a) && cols.includes(b));
  const header = ["metric", ...cols, ...(pair ? [`${pair[0]} / ${pair[1]}`] : [])];
  const names: string[] = [];
  for (const r of results) for (const k of Object.keys(r.metrics)) if (!names.includes(k)) names.push(k);
  const rows: string[][] = [];
  for (const k of names) {
    const vals = results.map((r) => r.metrics[k]);
    const row = [k, ...vals.map(fmt)];
    if (pair) {
      const c = results.find((r) => r.target === pair[0])?.metrics[k];
      const f = results.find((r) => r.target === pair[1])?.metrics[k];
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

/** The machine the run is on: for the header line and the report. */
export function machine() {
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

export type Machine = ReturnType<typeof machine>;

/** Which run of several is the better one, per scenario. */
const BEST: Record<ResultName, { metric: string; higher: boolean }> = {
  connect: { metric: "rss_per_conn_kib", higher: false },
  fanout: { metric: "deliveries_per_cpu_s", higher: true },
  "fanout-light": { metric: "last_client_p50_ms", higher: false },
  "unicast-paced": { metric: "p99_ms", higher: false },
  unicast: { metric: "publishes_per_s", higher: true },
  batch: { metric: "publishes_per_s", higher: true },
  "batch-paced": { metric: "p99_ms", higher: false },
  storm: { metric: "back_s", higher: false },
  "mqtt-ingest": { metric: "events_per_s", higher: true },
  compression: { metric: "server_cpu_us_per_delivery", higher: false },
  sse: { metric: "deliveries_per_cpu_s", higher: true },
  "history-store": { metric: "publishes_per_s", higher: true },
  "store-unicast": { metric: "publishes_per_s", higher: true },
  "store-batch": { metric: "publishes_per_s", higher: true },
  "store-fanout": { metric: "deliveries_per_cpu_s", higher: true },
  "store-redis-memory": { metric: "bytes_per_kept_message", higher: false },
};

export function pickBest(name: ResultName, rs: Result[]): Result | undefined {
  const b = BEST[name];
  let best: Result | undefined;
  for (const r of rs) {
    const v = r.metrics[b.metric];
    const bv = best?.metrics[b.metric];
    if (!best || (typeof v === "number" && (typeof bv !== "number" || (b.higher ? v > bv : v < bv)))) best = r;
  }
  return best;
}

export function printScenario(name: string, best: Result[], runs: Map<string, Result[]>): void {
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

/** Writes everything as JSON under args.out (each run of each scenario, the best ones, the targets); returns the file. */
export function writeReport(
  args: Args,
  started: Date,
  info: Machine,
  runs: Map<string, Result[]>,
  t: Target[],
  errors: RunError[],
): string {
  const p = args.profile;
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
  return file;
}
