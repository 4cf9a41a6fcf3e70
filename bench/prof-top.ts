/**
 * Summarizes a CPU profile written by `bun --cpu-prof` (Chrome .cpuprofile format): the functions
 * with the most self time, and the most total time (self + callees), as a share of all samples.
 *
 *   bun bench/prof-top.ts FILE.cpuprofile [--top 25]
 */
import { readFileSync } from "node:fs";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
if (!file) {
  console.error("usage: bun bench/prof-top.ts FILE.cpuprofile [--top N]");
  process.exit(2);
}
const ti = process.argv.indexOf("--top");
const top = ti > 0 ? Number(process.argv[ti + 1]) : 25;
const prof = JSON.parse(readFileSync(file, "utf8")) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (n: Node) => {
  const f = n.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(src|bench|node_modules)\//, "$1/")}:${f.lineNumber + 1}` : "";
  return `${f.functionName || "(anonymous)"} ${where}`.trim();
};
// A sample's delta is the time since the one before. After an idle stretch (a timer waking an idle
// server) it holds the whole stretch, and the first function of the wake-up got all of it: the
// sweep once showed as 20 % of a connect run. A delta counts for at most 3 sampling intervals.
const sorted = [...prof.timeDeltas].sort((a, b) => a - b);
const cap = 3 * (sorted[Math.floor(sorted.length / 2)] ?? 1000);
const self = new Map<string, number>();
const total = new Map<string, number>();
let all = 0;
prof.samples.forEach((id, i) => {
  const dt = Math.min(prof.timeDeltas[i] ?? 0, cap);
  all += dt;
  const n = byId.get(id);
  if (!n) return;
  const l = label(n);
  self.set(l, (self.get(l) ?? 0) + dt);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const node = byId.get(cur);
    if (!node) break;
    const k = label(node);
    if (seen.has(k)) continue;
    seen.add(k);
    total.set(k, (total.get(k) ?? 0) + dt);
  }
});
const show = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (of ${(all / 1000).toFixed(0)} ms sampled, idle gaps cut to ${(cap / 1000).toFixed(1)} ms)`);
  for (const [k, v] of [...m.entries()].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((v / all) * 100).toFixed(1).padStart(6)} %  ${k}`);
};
show("self time", self);
show("total time", total);
