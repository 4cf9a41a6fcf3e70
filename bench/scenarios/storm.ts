/**
 * storm: N authenticated clients in one room all drop their TCP connections at once and reconnect
 * at once (each with the token it had). Time until the server holds N sessions again, all on new
 * connections: its connects counter grew by N, it has N connections and N sessions. Then one
 * broadcast proves every client is back in the room.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, Gens, Meter, nowUs, type Result, round, waitFor } from "../lib/harness.ts";
import type { ConnectResult } from "../lib/wsreports.ts";
import { awaitDeliveries, EVT_BYTES, ROOM, startTarget, subscribedGens } from "./common.ts";

export async function stormScenario(ctx: Ctx, n: number): Promise<Result> {
  const target = await startTarget(ctx, "comet");
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, ROOM, "storm");
    pub = await Gens.start(ctx, 1, "pub");
    const base = (await target.metrics()).comet_connects_total ?? 0;
    const meter = new Meter(target, [gens]);
    const storming = gens.call<ConnectResult & { dropped_us: number }>(
      "storm",
      { concurrency: ctx.concurrency },
      120_000,
    );
    let doneUs = 0;
    await waitFor(`${n} sessions back`, 120_000, async () => {
      const m = await target.metrics();
      const back = (m.comet_connects_total ?? 0) >= base + n && m.comet_connections === n && m.comet_sessions === n;
      if (back) doneUs = nowUs();
      return back;
    });
    const parts = await storming;
    const dropped = Math.min(...parts.map((r) => r.dropped_us));
    const upgraded = Math.max(...parts.map((r) => r.t1_us));
    const secs = (doneUs - dropped) / 1e6;
    const cpu = meter.read(secs);

    await gens.call("reset", { seqs: 1 });
    const [pr] = await pub.call<PostResult>("posts", {
      host: target.host,
      port: target.port,
      ...target.broadcast(ROOM, EVT_BYTES),
      count: 1,
      connections: 1,
      rate: 0,
      maxSeconds: 10,
    });
    const got = await awaitDeliveries(gens, n);
    return {
      scenario: "storm",
      target: "comet",
      params: { clients: n, handshakes_in_flight: ctx.concurrency * gens.list.length },
      metrics: {
        back_s: round(secs, 3),
        upgraded_s: round((upgraded - dropped) / 1e6, 3),
        reconnects_per_s: Math.round(n / secs),
        failed: parts.reduce((a, r) => a + r.failed, 0),
        retries: parts.reduce((a, r) => a + r.retries, 0),
        server_cpu_us_per_reconnect: round((cpu.server_cpu_s * 1e6) / n, 1),
        server_cpu_pct: cpu.server_cpu_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        broadcast_after: pr?.ok === 1 ? got : 0,
      },
    };
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target.stop();
  }
}
