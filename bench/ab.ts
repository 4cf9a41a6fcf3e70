/**
 * Where Comet's unicast cost lies that the floor does not pay: the floor alone, run plain and then
 * with each of Comet's own choices turned on (FLOOR_AS_COMET in bench/floor-server.ts), in rounds
 * so that every variant meets the same machine. Prints server CPU per publish, the median of the
 * rounds, for each variant and its ratio to the plain floor.
 *
 *   npx bun bench/ab.ts [--rounds 3] [--variants backpressure,compressarg,...] [--full]
 */
import { resolve } from "node:path";
import type { Ctx } from "./lib/harness.ts";
import { median } from "./lib/harness.ts";
import { PROFILES } from "./lib/options.ts";
import { killAll, pinSelf } from "./lib/procs.ts";
import { unicastScenario } from "./scenarios/unicast.ts";

const ALL = ["backpressure", "compressarg", "pingpong", "data", "bytes", "headers", "sha", "modules", "all"];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const rounds = Number(option("--rounds") ?? 3);
  const variants = ["plain", ...(option("--variants")?.split(",") ?? ALL)];
  const profile = PROFILES[process.argv.includes("--full") ? "full" : "quick"];
  if (!profile) throw new Error("no bench profile");
  pinSelf();
  const ctx: Ctx = {
    root: resolve(import.meta.dir, ".."),
    maxSeconds: 300,
    perGen: 10_000,
    concurrency: 256,
    logLevel: "warn",
    runtime: "bun",
    workers: 1,
    log: (msg) => process.stderr.write(`${msg}\n`),
  };
  const cpu = new Map<string, number[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < rounds; r++) {
    for (const v of variants) {
      process.env.FLOOR_AS_COMET = v === "plain" ? "" : v;
      const [sat] = await unicastScenario(ctx, "floor", profile.unicast);
      const us = Number(sat?.metrics.server_cpu_us_per_publish);
      ctx.log(`· round ${r + 1}, ${v}: ${us} µs per publish`);
      cpu.get(v)?.push(us);
    }
  }
  const base = median(cpu.get("plain") ?? []);
  console.log("| floor with | server CPU per publish, µs (median) | runs | vs plain |\n|---|---:|---|---:|");
  for (const [v, xs] of cpu) {
    const m = median(xs);
    console.log(`| ${v} | ${m.toFixed(1)} | ${xs.join(", ")} | ${(m / base).toFixed(2)}× |`);
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => killAll());
