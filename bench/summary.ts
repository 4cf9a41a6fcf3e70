/**
 * One table from one or more results files (bench/results/*.json): every scenario's main figures
 * (medians of the runs), the floor beside Comet, the median of the runs' ratios, and each target
 * (issue 32's ratios, issue 8's latency and storm) on the row it judges, met or missed.
 * A later file's scenario replaces an earlier one's, so a full run can be topped up with a
 * `--only X --repeat 3` run. BENCHMARKS.md's summary table is this output with the reasons added.
 *
 *   npx bun bench/summary.ts bench/results/<full>.json [bench/results/<more>.json ...]
 */
import { readFileSync } from "node:fs";
import { targets } from "./lib/goals.ts";
import type { Result } from "./lib/harness.ts";
import { fmt, medianResult, pairedRatio } from "./lib/report.ts";

interface Report {
  started: string;
  results: Array<{ key: string; runs: Result[] }>;
}

/** [result name, figure's label, metric, Comet's other target or undefined]: the rows, in order. */
const ROWS: Array<[string, string, string, string?]> = [
  ["connect", "idle RSS per connection at 19,000, KiB", "rss_per_conn_kib"],
  ["connect", "server CPU per connect, µs", "server_cpu_us_per_connect"],
  ["fanout", "fanout to 10,000: deliveries per server CPU-second", "deliveries_per_cpu_s"],
  ["fanout-light", "light broadcast: last client, median ms", "last_client_p50_ms"],
  ["unicast", "unicast: publishes/s", "publishes_per_s"],
  ["unicast", "unicast: server CPU per publish, µs", "server_cpu_us_per_publish"],
  ["unicast-paced", "unicast at 25k/s: delivery p99, ms", "p99_ms"],
  ["batch", "Batch (100 per request): publishes/s", "publishes_per_s"],
  ["batch", "Batch: server CPU per publish, µs", "server_cpu_us_per_publish"],
  ["batch-paced", "Batch at 100k/s: delivery p99, ms", "p99_ms"],
  ["storm", "storm of 10,000: all back, s", "back_s"],
  ["mqtt-ingest", "MQTT ingest to 10,000 users: events/s", "events_per_s"],
  ["mqtt-ingest", "MQTT ingest: server CPU per event, µs", "server_cpu_us_per_event"],
  ["mqtt-ingest", "MQTT ingest: events per server CPU-second", "events_per_cpu_s"],
  ["compression", "compression: server CPU per delivery, µs (plain / deflate)", "server_cpu_us_per_delivery"],
  ["compression", "compression: wire bytes per delivery (plain / deflate)", "wire_bytes_per_delivery"],
  ["sse", "SSE: deliveries per server CPU-second (WebSocket / SSE)", "deliveries_per_cpu_s"],
];

/** Which target lines (by the start of their text) judge which row. */
const JUDGES: Record<string, string[]> = {
  "connect/rss_per_conn_kib": ["idle RSS"],
  "connect/server_cpu_us_per_connect": ["connect + AUTH"],
  "fanout/deliveries_per_cpu_s": ["fanout deliveries"],
  "fanout-light/last_client_p50_ms": ["light broadcast"],
  "unicast/server_cpu_us_per_publish": ["unicast publishes per server CPU"],
  "batch/publishes_per_s": ["Batch (100 per request)"],
  "storm/back_s": ["reconnect storm"],
  "mqtt-ingest/events_per_cpu_s": ["MQTT ingest events per server CPU"],
};

/** The two sides of a scenario: floor and Comet, or Comet against itself. */
const SIDES: Record<string, [string, string]> = { compression: ["plain", "deflate"], sse: ["websocket", "sse"] };

export function summary(files: string[]): string {
  const runs = new Map<string, Result[]>();
  const medians = new Map<string, Result>();
  for (const f of files) {
    const r = JSON.parse(readFileSync(f, "utf8")) as Report;
    for (const e of r.results) {
      runs.set(e.key, e.runs);
      const m = medianResult(e.runs);
      if (m) medians.set(e.key, m);
    }
  }
  const t = targets(medians, runs);
  const lines = [
    "| scenario and figure | floor | comet | comet / floor | target: measured | result |",
    "|---|---:|---:|---:|---|---|",
  ];
  for (const [name, label, metric] of ROWS) {
    const [a, b] = SIDES[name] ?? ["floor", "comet"];
    const va = medians.get(`${name}/${a}`)?.metrics[metric];
    const vb = medians.get(`${name}/${b}`);
    const skipped = vb?.skipped;
    const cv = vb?.metrics[metric];
    const r = pairedRatio(runs.get(`${name}/${b}`) ?? [], runs.get(`${name}/${a}`) ?? [], metric);
    const ratio = r === undefined ? "" : `${r.toFixed(2)}×`;
    const judged = (JUDGES[`${name}/${metric}`] ?? []).map((w) => t.find((x) => x.what.startsWith(w)));
    const goal = judged.map((x) => (x ? `${x.goal}: ${x.measured}` : "")).join("; ");
    const result = judged
      .map((x) => (x ? (x.met === null ? "not measured" : x.met ? "met" : "**missed**") : ""))
      .join("; ");
    const show = (v: unknown) => (typeof v === "number" ? fmt(v) : v === undefined || v === null ? "–" : String(v));
    lines.push(`| ${label} | ${show(va)} | ${skipped ?? show(cv)} | ${ratio} | ${goal} | ${result} |`);
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const files = process.argv.slice(2);
  if (files.length === 0) {
    console.error("usage: bun bench/summary.ts RESULTS.json [MORE.json ...]");
    process.exit(2);
  }
  console.log(summary(files));
}
