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
  writeFileSync(f, JSON.stringify({ started: "", results: results.map((r) => ({ ...r, best: r.runs[0] })) }));
  return f;
}

const row = (table: string, start: string) => table.split("\n").find((l) => l.startsWith(`| ${start}`)) ?? "";

test("fanout is met only when every Comet run reaches 95 % of the floor run beside it", () => {
  const fanout = (floor: number[], comet: number[]) =>
    file(`f${floor.join("-")}-${comet.join("-")}.json`, [
      { key: "fanout/floor", runs: floor.map((v) => result("fanout", "floor", { deliveries_per_cpu_s: v })) },
      { key: "fanout/comet", runs: comet.map((v) => result("fanout", "comet", { deliveries_per_cpu_s: v })) },
    ]);
  const missed = row(summary([fanout([100, 100, 100], [99, 94, 100])]), "fanout");
  expect(missed).toContain("runs: 99 %, 94 %, 100 %");
  expect(missed).toContain("**missed**");
  expect(row(summary([fanout([100, 80, 100], [96, 77, 95])]), "fanout")).toMatch(/\| met \|$/);
});

test("a later file's scenario replaces an earlier one's; fixed goals are judged on Comet's best", () => {
  const first = file("a.json", [
    { key: "batch/floor", runs: [result("batch", "floor", { publishes_per_s: 40_000 })] },
    { key: "batch/comet", runs: [result("batch", "comet", { publishes_per_s: 30_000 })] },
    { key: "storm/comet", runs: [result("storm", "comet", { back_s: 3 })] },
  ]);
  const second = file("b.json", [{ key: "storm/comet", runs: [result("storm", "comet", { back_s: 1.5 })] }]);
  const t = summary([first, second]);
  expect(row(t, "Batch (100")).toBe(
    "| Batch (100 per request): publishes/s | 40,000 | 30,000 | 0.75× | ≥ 200,000 | **missed** |",
  );
  expect(row(t, "storm")).toContain("| 1.5 |");
  expect(row(t, "storm")).toMatch(/\| met \|$/);
  expect(row(t, "MQTT ingest to")).toContain("not measured");
});

test("MQTT ingest shows the floor beside Comet and is met only when every run reaches 0.85× of its floor", () => {
  const mq = (floor: number[], comet: number[]) =>
    file(`m${floor.join("-")}-${comet.join("-")}.json`, [
      { key: "mqtt-ingest/floor", runs: floor.map((v) => result("mqtt-ingest", "floor", { events_per_cpu_s: v })) },
      { key: "mqtt-ingest/comet", runs: comet.map((v) => result("mqtt-ingest", "comet", { events_per_cpu_s: v })) },
    ]);
  const missed = row(summary([mq([100, 50], [90, 40])]), "MQTT ingest: events per server CPU");
  expect(missed).toContain("| 100 | 90 | 0.90× |");
  expect(missed).toContain("runs: 0.90×, 0.80×");
  expect(missed).toContain("**missed**");
  expect(row(summary([mq([100, 50], [85, 60])]), "MQTT ingest: events per server CPU")).toMatch(/\| met \|$/);
});
