/** Starting a target by kind, subscribing its clients, and waiting for deliveries that may stall. */

import { type Ctx, Gens, type Merged as GensStats, gensFor, Meter, sleep, waitFor } from "../lib/harness.ts";
import type { PostResult } from "../lib/http.ts";
import { startComet, startFloor, type Target } from "../lib/targets.ts";

export const ROOM = "bench";
export const EVT_BYTES = 100;

/** `more.yaml`: Comet's only (the floor has no config); `more.mqttUrl`: both (StartOptions). */
export function startTarget(
  ctx: Ctx,
  kind: "comet" | "floor",
  more: { yaml?: string; mqttUrl?: string } = {},
): Promise<Target> {
  const o = {
    root: ctx.root,
    maxSeconds: ctx.maxSeconds,
    logLevel: ctx.logLevel,
    extraYaml: [ctx.extraYaml, more.yaml].filter(Boolean).join("\n"),
    mqttUrl: more.mqttUrl,
    cpuProfDir: ctx.cpuProfDir,
    runtime: ctx.runtime,
    workers: ctx.workers,
  };
  return kind === "comet" ? startComet(o) : startFloor(o);
}

/**
 * Waits until the generators have received `want` frames, or nothing more arrived for `stallMs`
 * (some were lost: the caller reports how many). Returns what was received.
 */
export async function awaitDeliveries(gens: Gens, want: number, stallMs = 3000, everyMs = 5): Promise<number> {
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const got = await gens.received();
    if (got >= want) return got;
    if (got !== last) {
      last = got;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) return got;
    await sleep(everyMs);
  }
}

export const perSecond = (count: number, fromUs: number, toUs: number): number =>
  toUs > fromUs ? Math.round(count / ((toUs - fromUs) / 1e6)) : 0;

/**
 * Generators holding n subscribers of target (in room rid, "" = none), every one of them a session
 * before this resolves. `what` names the scenario in the error when some did not get in.
 */
export async function subscribedGens(
  ctx: Ctx,
  target: Target,
  n: number,
  rid: string,
  what: string,
  deflate = false,
  sse = false,
): Promise<Gens> {
  const gens = await Gens.start(ctx, gensFor(ctx, n));
  try {
    const cr = await gens.subscribe(target, n, rid, ctx.concurrency, deflate, sse);
    if (cr.upgraded < n) throw new Error(`${what}: only ${cr.upgraded} of ${n} upgraded`);
    await waitFor(`${n} subscribed`, 120_000, async () => (await target.subscribed()) >= n, 5);
    return gens;
  } catch (e) {
    await gens.stop();
    throw e;
  }
}

/** What a paced run of room broadcasts measured (pacedRoomBroadcasts). */
export interface PacedRun {
  target: Target;
  deliveries: number;
  expected: number;
  post: PostResult;
  stats: GensStats;
  cpu: ReturnType<Meter["read"]>;
}

/**
 * n subscribers of one room (over WebSocket, offering permessage-deflate with `deflate`, or over
 * SSE with `sse`) on a Comet started with `yaml`; 5 broadcasts of evtBytes to warm up, then
 * `broadcasts` at `rate` per second, measured. `use` reads the run while the target still lives.
 */
export async function pacedRoomBroadcasts<T>(
  ctx: Ctx,
  o: { what: string; yaml?: string; n: number; evtBytes: number; json?: boolean; deflate?: boolean; sse?: boolean },
  p: { broadcasts: number; rate: number },
  use: (run: PacedRun) => T,
): Promise<T> {
  const target = await startTarget(ctx, "comet", { yaml: o.yaml });
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, o.n, ROOM, o.what, o.deflate, o.sse);
    pub = await Gens.start(ctx, 1, "pub");
    const body = target.broadcast(ROOM, o.evtBytes, o.json);
    const post = async (count: number, rate: number): Promise<PostResult> => {
      const [r] = await (pub as Gens).call<PostResult>(
        "posts",
        { host: target.host, port: target.port, ...body, count, connections: 1, rate, maxSeconds: 120 },
        180_000,
      );
      return r as PostResult;
    };
    await gens.call("reset", { seqs: 0 });
    await post(5, 0);
    await awaitDeliveries(gens, 5 * o.n);

    await gens.call("reset", { seqs: 0 });
    const meter = new Meter(target, [gens, pub]);
    const pr = await post(p.broadcasts, p.rate);
    const got = await awaitDeliveries(gens, o.n * p.broadcasts);
    const stats = await gens.stats();
    const cpu = meter.read((stats.lastUs - pr.t0_us) / 1e6);
    return use({ target, deliveries: got, expected: o.n * p.broadcasts, post: pr, stats, cpu });
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target.stop();
  }
}
