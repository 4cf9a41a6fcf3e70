/**
 * The shape docs/architecture.md promises, held by a test: no import cycle in src, every import
 * pointing down the layers (or within a folder), no file over 330 lines. It reads the sources as
 * text: every relative import, `import type` included, is an edge.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { Glob } from "bun";

const ROOT = resolve(import.meta.dir, "../..");
const SRC = join(ROOT, "src");

/**
 * The layers, lowest first: a file may import its own folder and any folder (or top-level file)
 * of a lower rank. Keep in step with docs/architecture.md ("The layers", "The seams").
 */
const RANK: Record<string, number> = {
  "log.ts": 0,
  "errors.ts": 0,
  protocol: 1,
  util: 1,
  "per-second.ts": 1,
  metrics: 1,
  config: 2,
  "part.ts": 3,
  client: 3,
  auth: 4,
  runtime: 4,
  hub: 5,
  broker: 6,
  gateway: 7,
  presence: 8,
  webhooks: 9,
  sse: 10,
  ui: 11,
  http: 12,
  grpc: 12,
  bridge: 12,
  "shared-log": 13,
  "reload.ts": 14,
  instance: 15,
  "server.ts": 16,
  workers: 17,
  cli: 18,
};

const files = [...new Glob("**/*.ts").scanSync(SRC)].filter((f) => !f.endsWith(".d.ts")).map((f) => join(SRC, f));
const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.{1,2}\/[^"]+)"|import\(\s*"(\.{1,2}\/[^"]+)"\s*\)/g;

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  const out: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = (m[1] ?? m[2]) as string;
    const target = resolve(dirname(file), spec);
    if (target.startsWith(SRC) && target.endsWith(".ts")) out.push(target);
  }
  return out;
}

const graph = new Map(files.map((f) => [f, importsOf(f)]));
const area = (file: string): string => relative(SRC, file).split("/")[0] as string;

test("src has no import cycle", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]) => {
    if (state.get(f) === "done") return;
    if (state.get(f) === "open") {
      cycles.push([...path.slice(path.indexOf(f)), f].map((p) => relative(SRC, p)).join(" > "));
      return;
    }
    state.set(f, "open");
    for (const g of graph.get(f) ?? []) visit(g, [...path, f]);
    state.set(f, "done");
  };
  for (const f of files) visit(f, []);
  expect(cycles).toEqual([]);
});

test("every import points down the layers or stays in its folder", () => {
  const against: string[] = [];
  for (const [f, targets] of graph) {
    for (const t of targets) {
      const a = area(f);
      const b = area(t);
      if (a === b) continue;
      const ra = RANK[a];
      const rb = RANK[b];
      if (ra === undefined || rb === undefined || rb >= ra) against.push(`${relative(SRC, f)} -> ${relative(SRC, t)}`);
    }
  }
  expect(against).toEqual([]);
});

test("no file in src is over 330 lines", () => {
  const long = files
    .map((f) => [relative(SRC, f), readFileSync(f, "utf8").split("\n").length - 1] as const)
    .filter(([, n]) => n > 330);
  expect(long).toEqual([]);
});
