/**
 * The bench suite's command line (bench/run.ts): the profiles (how large each scenario runs), the
 * scenario names, and the options as parsed. --help prints bench/run.ts's header comment.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { BatchParams } from "../scenarios/batch.ts";
import type { CompressionParams } from "../scenarios/compression.ts";
import type { SseParams } from "../scenarios/sse.ts";
import type { FanoutParams } from "../scenarios/fanout.ts";
import type { MqttParams } from "../scenarios/mqtt.ts";
import type { UnicastParams } from "../scenarios/unicast.ts";

export interface Profile {
  name: string;
  connect: number;
  fanout: FanoutParams;
  unicast: UnicastParams;
  batch: BatchParams;
  storm: number;
  mqtt: MqttParams;
  compression: CompressionParams;
  sse: SseParams;
}

export const PROFILES: Record<string, Profile> = {
  tiny: {
    name: "tiny",
    connect: 20,
    fanout: { clients: 20, broadcasts: 5, inflight: 4, lightBroadcasts: 3, lightRate: 10 },
    unicast: { clients: 20, publishes: 200, connections: 4, rate: 1000, seconds: 0.3 },
    batch: { clients: 20, requests: 20, per: 10, connections: 2, rate: 1000, seconds: 0.3 },
    storm: 20,
    mqtt: { clients: 20, events: 200 },
    compression: { clients: 20, broadcasts: 5, rate: 50 },
    sse: { clients: 20, broadcasts: 5, rate: 50 },
  },
  quick: {
    name: "quick",
    connect: 5000,
    fanout: { clients: 5000, broadcasts: 200, inflight: 4, lightBroadcasts: 20, lightRate: 10 },
    unicast: { clients: 2000, publishes: 50_000, connections: 32, rate: 25_000, seconds: 2 },
    batch: { clients: 2000, requests: 1000, per: 100, connections: 4, rate: 100_000, seconds: 2 },
    storm: 5000,
    mqtt: { clients: 2000, events: 50_000 },
    compression: { clients: 2000, broadcasts: 100, rate: 10 },
    sse: { clients: 2000, broadcasts: 100, rate: 10 },
  },
  full: {
    name: "full",
    connect: 19_000,
    fanout: { clients: 10_000, broadcasts: 200, inflight: 4, lightBroadcasts: 50, lightRate: 10 },
    unicast: { clients: 10_000, publishes: 200_000, connections: 32, rate: 25_000, seconds: 5 },
    batch: { clients: 10_000, requests: 4000, per: 100, connections: 4, rate: 100_000, seconds: 5 },
    storm: 10_000,
    mqtt: { clients: 10_000, events: 200_000 },
    compression: { clients: 10_000, broadcasts: 40, rate: 2 },
    sse: { clients: 10_000, broadcasts: 50, rate: 5 },
  },
};

export const SCENARIOS = [
  "connect",
  "fanout",
  "unicast",
  "batch",
  "storm",
  "mqtt-ingest",
  "compression",
  "sse",
  "history-store",
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What the scenarios report: fanout reports its light phase as a result of its own. */
export type ResultName =
  | ScenarioName
  | "fanout-light"
  | "unicast-paced"
  | "batch-paced"
  | "store-unicast"
  | "store-batch"
  | "store-fanout"
  | "store-redis-memory";

/** Run only when named with --only: it needs redis-server, and repeats three scenarios twice. */
const OPT_IN: readonly ScenarioName[] = ["history-store"];

export interface Args {
  profile: Profile;
  only: ScenarioName[];
  repeat: number;
  out: string;
  floor: boolean;
  logLevel: string;
  perGen: number;
  concurrency: number;
  cpuProf?: string;
  runtime: "bun" | "deno";
  /** Comet's --workers (1: one process, pinned to CPU 0; more: the supervisor and its workers on every CPU). */
  workers: number;
}

export function parseArgs(argv: string[]): Args {
  const root = resolve(import.meta.dir, "../..");
  const a: Args = {
    profile: PROFILES.quick as Profile,
    only: SCENARIOS.filter((s) => !OPT_IN.includes(s)),
    repeat: 1,
    out: join(root, "bench", "results"),
    floor: true,
    logLevel: "warn",
    perGen: 10_000,
    concurrency: 256,
    runtime: "bun",
    workers: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i];
    const next = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${v} needs a value`);
      return x;
    };
    if (v === "--full") a.profile = PROFILES.full as Profile;
    else if (v === "--tiny") a.profile = PROFILES.tiny as Profile;
    else if (v === "--quick") a.profile = PROFILES.quick as Profile;
    else if (v === "--only") {
      a.only = next()
        .split(",")
        .map((s) => (s === "mqtt" ? "mqtt-ingest" : s)) as ScenarioName[];
      for (const s of a.only) if (!SCENARIOS.includes(s)) throw new Error(`--only: unknown scenario ${s}`);
    } else if (v === "--repeat") a.repeat = Math.max(1, Number(next()));
    else if (v === "--out") a.out = resolve(next());
    else if (v === "--no-floor") a.floor = false;
    else if (v === "--log-level") a.logLevel = next();
    else if (v === "--per-gen") a.perGen = Number(next());
    else if (v === "--concurrency") a.concurrency = Number(next());
    else if (v === "--cpu-prof") a.cpuProf = resolve(next());
    else if (v === "--workers") {
      a.workers = Number(next());
      if (!Number.isInteger(a.workers) || a.workers < 1)
        throw new Error("--workers: expected a whole number, 1 or more");
    } else if (v === "--runtime") {
      const r = next();
      if (r !== "bun" && r !== "deno") throw new Error(`--runtime: expected bun or deno, got ${r}`);
      a.runtime = r;
    } else if (v === "--help" || v === "-h") {
      console.log(readFileSync(join(root, "bench", "run.ts"), "utf8").split("*/")[0]);
      process.exit(0);
    } else throw new Error(`unknown option ${v}`);
  }
  return a;
}
