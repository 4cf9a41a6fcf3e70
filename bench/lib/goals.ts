/**
 * The targets of issues 8, 22 and 32 (set for the full profile), checked against the best runs:
 * fanout and MQTT ingest per server CPU-second (in every run, not only the best), light-broadcast
 * latency and idle memory beside the floor; unicast, storm, MQTT ingest and unicast through Batch
 * against fixed goals. (The servers under test are in targets.ts.)
 */
import type { Result } from "./harness.ts";
import { fmt } from "./report.ts";

export interface Target {
  what: string;
  measured: string;
  goal: string;
  met: boolean | null;
}

export function targets(best: Map<string, Result>, runs: Map<string, Result[]> = new Map()): Target[] {
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
  const add = (what: string, measured: string, goal: string, met: boolean | null) =>
    out.push({ what, measured, goal, met });

  // Every run of --repeat N, each Comet run against the floor run beside it: on a shared machine the
  // best runs of the two may come from different phases.
  const eachRun = (s: string, k: string): number[] => {
    const fr = (runs.get(`${s}/floor`) ?? []).map((r) => r.metrics[k]);
    const cr = (runs.get(`${s}/comet`) ?? []).map((r) => r.metrics[k]);
    return cr.flatMap((c, i) => {
      const f = fr[i];
      return typeof c === "number" && typeof f === "number" && f > 0 ? [c / f] : [];
    });
  };

  // Fanout, issue 22.
  const k = "deliveries_per_cpu_s";
  const each = eachRun("fanout", k);
  if (each.length > 0) {
    add(
      `fanout deliveries per server CPU-second vs floor, each of ${each.length} run(s)`,
      each.map(pct).join(", "),
      "≥ 95 % every run",
      each.every((x) => x >= 0.95),
    );
  } else {
    const r1 = ratio("fanout", k);
    add(
      "fanout deliveries per server CPU-second vs floor",
      pct(r1),
      "≥ 95 % every run",
      r1 === undefined ? null : r1 >= 0.95,
    );
  }
  const r2 = ratio("fanout-light", "last_client_p50_ms");
  add("light broadcast, last client (median) vs floor", times(r2), "≤ 1.20×", r2 === undefined ? null : r2 <= 1.2);
  const r3 = ratio("connect", "rss_per_conn_kib");
  add("idle RSS per connection vs floor", times(r3), "≤ 1.30×", r3 === undefined ? null : r3 <= 1.3);
  const u = m("unicast", "comet", "publishes_per_s");
  add("unicast publishes per second", fmt(u), "≥ 50,000", u === undefined ? null : u >= 50_000);
  const up = m("unicast-paced", "comet", "p99_ms");
  const uh = m("unicast-paced", "comet", "http_p99_ms");
  add(
    "unicast p99 at 25k/s (delivery / HTTP)",
    up === undefined ? "–" : `${up} / ${uh} ms`,
    "< 10 ms",
    up === undefined || uh === undefined ? null : up < 10 && uh < 10,
  );
  const b = m("batch", "comet", "publishes_per_s");
  add(
    "unicast through Batch (100 per request), publishes per second",
    fmt(b),
    "≥ 200,000",
    b === undefined ? null : b >= 200_000,
  );
  const bp = m("batch-paced", "comet", "p99_ms");
  add(
    "unicast through Batch at 100k/s, p99 publish to receive",
    bp === undefined ? "–" : `${bp} ms`,
    "< 20 ms",
    bp === undefined ? null : bp < 20,
  );
  const st = m("storm", "comet", "back_s");
  add("reconnect storm, all back", st === undefined ? "–" : `${st} s`, "≤ 2 s", st === undefined ? null : st <= 2);
  const mq = best.get("mqtt-ingest/comet");
  const ev = m("mqtt-ingest", "comet", "events_per_s");
  add("MQTT ingest events per second", mq?.skipped ?? fmt(ev), "≥ 50,000", ev === undefined ? null : ev >= 50_000);
  const us = m("mqtt-ingest", "comet", "server_cpu_us_per_event");
  add(
    "MQTT ingest server CPU per event",
    us === undefined ? "–" : `${us} µs`,
    "< 15 µs",
    us === undefined ? null : us < 15,
  );
  // MQTT ingest beside its floor (mqtt.js, one send per event), issue 32.
  const me = eachRun("mqtt-ingest", "events_per_cpu_s");
  add(
    `MQTT ingest events per server CPU-second vs floor, each of ${me.length} run(s)`,
    me.length > 0 ? me.map(times).join(", ") : "–",
    "≥ 0.85× every run",
    me.length > 0 ? me.every((x) => x >= 0.85) : null,
  );
  return out;
}

export function targetTable(t: Target[]): string {
  const rows = t.map((x) => [x.what, x.measured, x.goal, x.met === null ? "not measured" : x.met ? "met" : "MISSED"]);
  const all = [["target", "measured", "goal", "result"], ...rows];
  const w = all[0]!.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(w[i] as number)).join(" | ")} |`;
  return [line(all[0]!), `|${w.map((n) => "-".repeat(n + 2)).join("|")}|`, ...rows.map(line)].join("\n");
}
