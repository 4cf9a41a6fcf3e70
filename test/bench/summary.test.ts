/** The summary table and its targets: each fanout run judged against the floor run beside it; a later file wins. */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { summary } from "../../bench/summary.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-summary-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const result = (scenario: string, target: string, metrics: Record<string, number>) => ({
  scenario,
  target,
  params: {},
  metrics,
});

function file(name: string, results: Array<{ key: string; runs: ReturnType<typeof result>[] }>): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify({ started: "", results }));
  return f;
}

const row = (table: string, start: string) => table.split("\n").find((l) => l.startsWith(`| ${start}`)) ?? "";

const sides = (scenario: string, metric: string, floor: number[], comet: number[]) => [
  { key: `${scenario}/floor`, runs: floor.map((v) => result(scenario, "floor", { [metric]: v })) },
  { key: `${scenario}/comet`, runs: comet.map((v) => result(scenario, "comet", { [metric]: v })) },
];

test("fanout is judged on the median of each Comet run against the floor run beside it", () => {
  const fanout = (floor: number[], comet: number[]) =>
    file(`f${floor.join("-")}-${comet.join("-")}.json`, sides("fanout", "deliveries_per_cpu_s", floor, comet));
  const missed = row(summary([fanout([100, 100, 100], [99, 90, 94])]), "fanout");
  expect(missed).toContain("≥ 95 %, the median: 94 % (runs: 99 %, 90 %, 94 %)");
  expect(missed).toContain("**missed**");
  // The floor's slow second run is matched by Comet's beside it: 96 %, 97 %, 90 %, median 96 %
  // (the medians alone, 90 against 100, would read 90 %).
  const met = row(summary([fanout([100, 70, 100], [96, 68, 90])]), "fanout");
  expect(met).toContain("| 100 | 90 | 0.96× |");
  expect(met).toMatch(/\| met \|$/);
});

test("a cost is read as a rate: unicast's CPU per publish judged as the floor's over Comet's", () => {
  const t = summary([file("u.json", sides("unicast", "server_cpu_us_per_publish", [40, 50], [46, 60]))]);
  const r = row(t, "unicast: server CPU per publish");
  expect(r).toContain("≥ 0.85×: 0.83× (runs: 0.87×, 0.83×)");
  expect(r).toContain("**missed**");
});

test("a later file's scenario replaces an earlier one's; Batch is a ratio to its floor", () => {
  const first = file("a.json", [
    ...sides("batch", "publishes_per_s", [40_000], [30_000]),
    { key: "storm/comet", runs: [result("storm", "comet", { back_s: 3 })] },
  ]);
  const second = file("b.json", [{ key: "storm/comet", runs: [result("storm", "comet", { back_s: 1.5 })] }]);
  const t = summary([first, second]);
  expect(row(t, "Batch (100")).toBe(
    "| Batch (100 per request): publishes/s | 40,000 | 30,000 | 0.75× | ≥ 0.85×: 0.75× | **missed** |",
  );
  expect(row(t, "storm")).toContain("| 1.5 |");
  expect(row(t, "storm")).toMatch(/\| met \|$/);
  expect(row(t, "MQTT ingest: events per server CPU")).toContain("not measured");
});

test("MQTT ingest shows the floor beside Comet and is met when the median of its runs' ratios reaches 0.85×", () => {
  const mq = (floor: number[], comet: number[]) =>
    file(`m${floor.join("-")}-${comet.join("-")}.json`, [
      { key: "mqtt-ingest/floor", runs: floor.map((v) => result("mqtt-ingest", "floor", { events_per_cpu_s: v })) },
      { key: "mqtt-ingest/comet", runs: comet.map((v) => result("mqtt-ingest", "comet", { events_per_cpu_s: v })) },
    ]);
  const missed = row(summary([mq([100, 50, 80], [90, 40, 60])]), "MQTT ingest: events per server CPU");
  expect(missed).toContain("| 80 | 60 | 0.80× |");
  expect(missed).toContain("runs: 0.90×, 0.80×, 0.75×");
  expect(missed).toContain("**missed**");
  const met = row(summary([mq([100, 50, 80], [90, 45, 60])]), "MQTT ingest: events per server CPU");
  expect(met).toMatch(/\| met \|$/);
});
