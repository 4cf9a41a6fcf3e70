/** Starting a target by kind, subscribing its clients, and waiting for deliveries that may stall. */
import { type Ctx, Gens, gensFor, sleep, waitFor } from "../lib/harness.ts";
import { startComet, startFloor, type Target } from "../lib/targets.ts";

export const ROOM = "bench";
export const EVT_BYTES = 100;

export function startTarget(ctx: Ctx, kind: "comet" | "floor", extraYaml?: string): Promise<Target> {
  const o = {
    root: ctx.root,
    maxSeconds: ctx.maxSeconds,
    logLevel: ctx.logLevel,
    extraYaml,
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
