/**
 * Where Comet's cost lies that the floor does not pay: the floor alone, run plain and then with each
 * of Comet's own choices turned on (FLOOR_AS_COMET in bench/floor-server.ts), in rounds so that
 * every variant meets the same machine. Prints the scenario's CPU figure for each variant, the
 * median of the rounds, and the median of each round's ratio to the plain floor of that round.
 *
 *   npx bun bench/ab.ts [--scenario unicast|fanout|connect] [--rounds 3] [--variants backpressure,...] [--full]
 */
import { resolve } from "node:path";
import type { Ctx } from "./lib/harness.ts";
import { median } from "./lib/harness.ts";
import { PROFILES } from "./lib/options.ts";
import { killAll, pinSelf } from "./lib/procs.ts";
import { fanoutScenario } from "./scenarios/fanout.ts";
import { unicastScenario } from "./scenarios/unicast.ts";
import { connectScenario } from "./scenarios/connect.ts";
import { SECRET } from "./lib/targets.ts";

/** Per scenario: how it runs the floor, and its figure (server CPU per unit of work). */
const SCENARIOS = {
  unicast: {
    figure: "server CPU per publish, µs",
    run: async (ctx: Ctx, p: NonNullable<(typeof PROFILES)[string]>) =>
      Number((await unicastScenario(ctx, "floor", p.unicast))[0]?.metrics.server_cpu_us_per_publish),
  },
  connect: {
    figure: "server CPU per connect, µs",
    run: async (ctx: Ctx, p: NonNullable<(typeof PROFILES)[string]>) =>
      Number((await connectScenario(ctx, "floor", p.connect)).metrics.server_cpu_us_per_connect),
  },
  fanout: {
    figure: "server CPU per delivery, µs",
    run: async (ctx: Ctx, p: NonNullable<(typeof PROFILES)[string]>) => {
      const [r] = await fanoutScenario(ctx, "floor", { ...p.fanout, lightBroadcasts: 0 });
      return Math.round(1e9 / Number(r?.metrics.deliveries_per_cpu_s)) / 1000;
    },
  },
};

const ALL = ["backpressure", "compressarg", "pingpong", "data", "bytes", "headers", "sha", "modules", "all"];

function option(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const rounds = Number(option("--rounds") ?? 3);
  const scenario = SCENARIOS[(option("--scenario") ?? "unicast") as keyof typeof SCENARIOS];
  if (!scenario) throw new Error(`--scenario: one of ${Object.keys(SCENARIOS).join(", ")}`);
  const variants = ["plain", ...(option("--variants")?.split(",") ?? ALL)];
  const profile = PROFILES[process.argv.includes("--full") ? "full" : "quick"];
  if (!profile) throw new Error("no bench profile");
  pinSelf();
  // The auth variant verifies the bench's tokens, signed with this.
  process.env.FLOOR_HS256_SECRET = SECRET;
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
      const us = await scenario.run(ctx, profile);
      ctx.log(`· round ${r + 1}, ${v}: ${us} (${scenario.figure})`);
      cpu.get(v)?.push(us);
    }
  }
  const plain = cpu.get("plain") ?? [];
  console.log(`| floor with | ${scenario.figure} (median) | runs | vs plain, round by round (median) |\n|---|---:|---|---:|`);
  for (const [v, xs] of cpu) {
    const ratios = xs.map((x, i) => x / (plain[i] as number));
    console.log(`| ${v} | ${median(xs).toFixed(1)} | ${xs.join(", ")} | ${median(ratios).toFixed(2)}× |`);
  }
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(() => killAll());
