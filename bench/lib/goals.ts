/**
 * The targets of issues 8 and 22 (set for the full profile), checked against the best runs: fanout
 * throughput, light-broadcast latency and idle memory beside the floor; unicast, storm and MQTT
 * ingest and unicast through Batch against fixed goals. (The servers under test are in targets.ts.)
 */
import type { Result } from "./harness.ts";
import { fmt } from "./report.ts";

export interface Target {
  what: string;
  measured: string;
  goal: string;
  met: boolean | null;
}

export function targets(best: Map<string, Result>): Target[] {
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
  const b = m("batch", "comet", "publishes_per_s");
  out.push({
    what: "unicast through Batch (100 per request), publishes per second",
    measured: fmt(b),
    goal: "≥ 200,000",
    met: b === undefined ? null : b >= 200_000,
  });
  const bp = m("batch-paced", "comet", "p99_ms");
  out.push({
    what: "unicast through Batch at 100k/s, p99 publish to receive",
    measured: bp === undefined ? "–" : `${bp} ms`,
    goal: "< 20 ms",
    met: bp === undefined ? null : bp < 20,
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
