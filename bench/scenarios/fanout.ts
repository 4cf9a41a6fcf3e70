/**
 * fanout: N clients in one room. Saturated: M broadcasts of a 100-byte evt, `inflight` HTTP
 * requests outstanding; deliveries per second, deliveries per server CPU-second (/proc), and
 * publish-to-receive latency. Light: broadcasts at 10/s; per broadcast, the time until the last
 * client has it.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, Gens, Meter, median, type Result, round, } from "../lib/harness.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, ROOM, perSecond, startTarget, subscribedGens } from "./common.ts";

export interface FanoutParams {
  clients: number;
  broadcasts: number;
  inflight: number;
  lightBroadcasts: number;
  lightRate: number;
}

async function post(pub: Gens, target: Target, count: number, connections: number, rate: number): Promise<PostResult> {
  const b = target.broadcast(ROOM, EVT_BYTES);
  const [r] = await pub.call<PostResult>(
    "posts",
    { host: target.host, port: target.port, ...b, count, connections, rate, maxSeconds: 120 },
    180_000,
  );
  return r as PostResult;
}

/** Two results from one run: the saturated phase ("fanout") and the light one ("fanout-light"). */
export async function fanoutScenario(ctx: Ctx, kind: "comet" | "floor", p: FanoutParams): Promise<Result[]> {
  const n = p.clients;
  const target = await startTarget(ctx, kind);
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, ROOM, "fanout");
    pub = await Gens.start(ctx, 1, "pub");

    // Warm-up: a few broadcasts, so both servers run compiled code when measured.
    await gens.call("reset", { seqs: 0 });
    await post(pub, target, 10, 1, 0);
    await awaitDeliveries(gens, 10 * n);

    // Saturated.
    await gens.call("reset", { seqs: p.broadcasts });
    const meter = new Meter(target, [gens, pub]);
    const pub0 = pub.cpuS();
    const pr = await post(pub, target, p.broadcasts, p.inflight, 0);
    const got = await awaitDeliveries(gens, n * p.broadcasts);
    const s = await gens.stats();
    const secs = (s.lastUs - pr.t0_us) / 1e6;
    const cpu = meter.read(secs);
    const pubPct = round(((pub.cpuS() - pub0) / secs) * 100);
    const lat = s.hist.summary();

    const saturated: Result = {
      scenario: "fanout",
      target: kind,
      params: { clients: n, broadcasts: p.broadcasts, inflight: p.inflight, evt_bytes: EVT_BYTES },
      metrics: {
        deliveries: got,
        lost: n * p.broadcasts - got,
        http_errors: pr.errors,
        deliveries_per_s: perSecond(got, pr.t0_us, s.lastUs),
        deliveries_per_cpu_s: cpu.server_cpu_s > 0 ? Math.round(got / cpu.server_cpu_s) : null,
        server_cpu_s: cpu.server_cpu_s,
        server_cpu_pct: cpu.server_cpu_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        pub_cpu_pct: pubPct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        p50_ms: lat.p50_ms,
        p99_ms: lat.p99_ms,
        max_ms: lat.max_ms,
      },
    };
    if (p.lightBroadcasts === 0) return [saturated];

    // Light: one broadcast at a time, `lightRate` per second.
    await gens.call("reset", { seqs: p.lightBroadcasts });
    const lightMeter = new Meter(target, [gens, pub]);
    const lr = await post(pub, target, p.lightBroadcasts, 1, p.lightRate);
    const lightGot = await awaitDeliveries(gens, n * p.lightBroadcasts);
    const ls = await gens.stats();
    const lcpu = lightMeter.read();
    const lastClient = ls.seqMaxUs.slice(0, p.lightBroadcasts).map((us) => us / 1000);
    const llat = ls.hist.summary();

    const light: Result = {
      scenario: "fanout-light",
      target: kind,
      params: { clients: n, broadcasts: p.lightBroadcasts, rate_per_s: p.lightRate, evt_bytes: EVT_BYTES },
      metrics: {
        lost: n * p.lightBroadcasts - lightGot,
        http_errors: lr.errors,
        last_client_p50_ms: round(median(lastClient), 3),
        last_client_max_ms: round(Math.max(0, ...lastClient), 3),
        server_cpu_ms_per_broadcast: round((lcpu.server_cpu_s * 1000) / p.lightBroadcasts, 1),
        gen_cpu_pct: lcpu.gen_cpu_pct,
        cpu0_other_pct: lcpu.cpu0_other_pct,
        p50_ms: llat.p50_ms,
        p99_ms: llat.p99_ms,
        max_ms: llat.max_ms,
      },
    };
    return [saturated, light];
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target.stop();
  }
}
