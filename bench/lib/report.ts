/**
 * What the bench suite prints and writes: a Markdown table per scenario (the median of its runs,
 * and each ratio the median of the runs' own ratios), the machine it ran on, and the whole run as
 * JSON under bench/results/.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release } from "node:os";
import { join } from "node:path";
import type { Target } from "./goals.ts";
import { median, type Metrics, type Result } from "./harness.ts";
import type { Args } from "./options.ts";

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

/**
 * The median over runs of run r's figure on side a over run r's on side b. Run r of each side ran
 * one after the other (run.ts interleaves them), so each ratio is taken on one state of this
 * shared machine, whose speed moves by a quarter between minutes.
 */
export function pairedRatio(a: Result[], b: Result[], k: string): number | undefined {
  const each: number[] = [];
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]?.metrics[k];
    const y = b[i]?.metrics[k];
    if (typeof x === "number" && typeof y === "number" && y !== 0) each.push(x / y);
  }
  return each.length > 0 ? median(each) : undefined;
}

/** One result for several runs: each figure the median of the runs' (a text figure: the first run's). */
export function medianResult(rs: Result[]): Result | undefined {
  const first = rs[0];
  if (!first) return undefined;
  const metrics: Metrics = {};
  for (const [k, v] of Object.entries(first.metrics)) {
    const xs = rs.map((r) => r.metrics[k]).filter((x): x is number => typeof x === "number");
    metrics[k] = xs.length > 0 ? Math.round(median(xs) * 1000) / 1000 : v;
  }
  return { ...first, metrics };
}

/**
 * A Markdown table: one row per metric, one column per target (the medians), and a ratio where a
 * pair of RATIOS ran: the median of the runs' ratios when `runs` holds them, else of the medians.
 */
export function table(results: Result[], runs: Map<string, Result[]> = new Map()): string {
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
      const c = results.find((r) => r.target === pair[0]);
      const f = results.find((r) => r.target === pair[1]);
      const paired = (r: Result | undefined) => runs.get(`${r?.scenario}/${r?.target}`) ?? [];
      const cv = c?.metrics[k];
      const fv = f?.metrics[k];
      const ratio =
        pairedRatio(paired(c), paired(f), k) ??
        (typeof cv === "number" && typeof fv === "number" && fv !== 0 ? cv / fv : undefined);
      row.push(ratio === undefined ? "" : `${ratio.toFixed(2)}×`);
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

export function printScenario(name: string, medians: Result[], runs: Map<string, Result[]>): void {
  const skipped = medians.find((r) => r.skipped);
  const params = medians[0]?.params ?? {};
  const n = Math.max(0, ...medians.map((r) => runs.get(`${r.scenario}/${r.target}`)?.length ?? 0));
  console.log(
    `## ${name}  ${Object.entries(params)
      .map(([k, v]) => `${k}=${fmt(v)}`)
      .join(" ")}  (${n === 1 ? "1 run" : `${n} runs: medians, and the median of the runs' ratios`})\n`,
  );
  if (skipped) console.log(`| ${name} | ${skipped.skipped} |\n|---|---|\n`);
  else if (medians.length === 0) console.log("(failed: see above)\n");
  else console.log(`${table(medians, runs)}\n`);
}

/** Writes everything as JSON under args.out (each run of each scenario, their medians, the targets); returns the file. */
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
      median: medianResult(rs),
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
