/**
 * fanout-light: one broadcast at a time to N clients in a room; per broadcast, the time until the
 * last client has it. The floor and Comet run side by side (both idle on the server core between
 * broadcasts) and take turns, one broadcast each per round, who goes first alternating; each waits
 * until all N have their broadcast, and a round takes at least 1/rate seconds. Both see the same
 * machine at the same moments, which a shared box does not give two runs one after the other.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, Gens, gensFor, median, type Result, round, sleep, waitFor } from "../lib/harness.ts";
import { cpuBusySeconds } from "../lib/procs.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, ROOM, startTarget } from "./common.ts";

export interface LightParams {
  clients: number;
  broadcasts: number;
  /** Rounds per second (each round: one broadcast to each server). */
  rate: number;
}

interface Side {
  kind: "comet" | "floor";
  target: Target;
  gens: Gens;
  lastMs: number[];
  lost: number;
  errors: number;
  cpuMs: number;
  cpu0: number;
}

export async function lightScenario(ctx: Ctx, p: LightParams, kinds: Array<"comet" | "floor">): Promise<Result[]> {
  const n = p.clients;
  const sides: Side[] = [];
  let pub: Gens | undefined;
  try {
    for (const kind of kinds) {
      const target = await startTarget(ctx, kind);
      sides.push({
        kind,
        target,
        gens: await Gens.start(ctx, gensFor(ctx, n), `${kind}-gen`),
        lastMs: [],
        lost: 0,
        errors: 0,
        cpuMs: 0,
        cpu0: 0,
      });
    }
    pub = await Gens.start(ctx, 1, "pub");
    for (const s of sides) {
      const cr = await s.gens.subscribe(s.target, n, ROOM, ctx.concurrency);
      if (cr.upgraded < n) throw new Error(`fanout-light: only ${cr.upgraded} of ${n} upgraded to ${s.kind}`);
      await waitFor(`${n} subscribed to ${s.kind}`, 120_000, async () => (await s.target.subscribed()) >= n, 5);
    }
    const one = async (s: Side, record: boolean): Promise<void> => {
      await s.gens.call("reset", { seqs: 1 });
      const cpu0 = s.target.cpuS();
      const [r] = await (pub as Gens).call<PostResult>("posts", {
        host: s.target.host,
        port: s.target.port,
        ...s.target.broadcast(ROOM, EVT_BYTES),
        count: 1,
        connections: 1,
        rate: 0,
        maxSeconds: 30,
      });
      const got = await awaitDeliveries(s.gens, n, 3000, 2);
      if (!record) return;
      const st = await s.gens.stats();
      s.lastMs.push((st.seqMaxUs[0] ?? 0) / 1000);
      s.lost += n - got;
      s.errors += r?.errors ?? 0;
      s.cpuMs += (s.target.cpuS() - cpu0) * 1000;
    };
    // Warm-up rounds, not recorded.
    for (let i = 0; i < 3; i++) for (const s of sides) await one(s, false);
    // What other processes take of the server core: its busy time minus both servers'.
    const busy0 = cpuBusySeconds();
    const t0 = Date.now();
    for (const s of sides) s.cpu0 = s.target.cpuS();
    const period = 1000 / p.rate;
    for (let i = 0; i < p.broadcasts; i++) {
      const start = Date.now();
      const order = i % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) await one(s, true);
      const left = period - (Date.now() - start);
      if (left > 0) await sleep(left);
    }
    const servers = sides.reduce((a, s) => a + s.target.cpuS() - s.cpu0, 0);
    const other = Math.max(0, Math.round(((cpuBusySeconds() - busy0 - servers) / ((Date.now() - t0) / 1000)) * 100));
    return sides.map((s) => {
      return {
        scenario: "fanout-light",
        target: s.kind,
        params: {
          clients: n,
          broadcasts: p.broadcasts,
          rounds_per_s: p.rate,
          evt_bytes: EVT_BYTES,
          side_by_side: kinds.length,
        },
        metrics: {
          lost: s.lost,
          http_errors: s.errors,
          last_client_p50_ms: round(median(s.lastMs), 3),
          last_client_max_ms: round(Math.max(0, ...s.lastMs), 3),
          server_cpu_ms_per_broadcast: round(s.cpuMs / p.broadcasts, 1),
          cpu0_other_pct: other,
        },
      };
    });
  } finally {
    await pub?.stop();
    for (const s of sides) {
      await s.gens.stop();
      await s.target.stop();
    }
  }
}
