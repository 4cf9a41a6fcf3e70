/**
 * unicast: N connected users; HTTP Publish to a random one, `connections` requests in flight (the
 * floor: the same body to a bare Bun.serve that sends the frame to one socket).
 * Saturated: publishes per second. Paced at `rate` (half the 50k target by default): HTTP latency
 * (from when each request was due) and publish-to-receive latency.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, Gens, Meter, type Result, round, } from "../lib/harness.ts";
import { Hist } from "../lib/hist.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, perSecond, startTarget, subscribedGens } from "./common.ts";

export interface UnicastParams {
  clients: number;
  publishes: number;
  connections: number;
  rate: number;
  seconds: number;
}

async function publish(pub: Gens, target: Target, n: number, count: number, conns: number, rate: number, secs: number) {
  const [r] = await pub.call<PostResult>(
    "posts",
    {
      host: target.host,
      port: target.port,
      ...target.unicast(),
      body: { kind: "unicast", users: n, evtBytes: EVT_BYTES },
      count,
      connections: conns,
      rate,
      maxSeconds: secs,
    },
    180_000,
  );
  return r as PostResult;
}

/** Two results from one run: saturated ("unicast") and paced ("unicast-paced"). */
export async function unicastScenario(ctx: Ctx, kind: "comet" | "floor", p: UnicastParams): Promise<Result[]> {
  const n = p.clients;
  const target = await startTarget(ctx, kind);
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, "", "unicast");
    pub = await Gens.start(ctx, 1, "pub");

    await gens.call("reset", { seqs: 0 });
    const warm = Math.min(5000, p.publishes);
    await publish(pub, target, n, warm, p.connections, 0, 60);
    await awaitDeliveries(gens, warm);

    // Saturated.
    await gens.call("reset", { seqs: 0 });
    const meter = new Meter(target, [gens, pub]);
    const pub0 = pub.cpuS();
    const sat = await publish(pub, target, n, p.publishes, p.connections, 0, 120);
    const got = await awaitDeliveries(gens, sat.ok);
    const s = await gens.stats();
    const satSecs = (sat.t1_us - sat.t0_us) / 1e6;
    const cpu = meter.read(satSecs);
    const pubPct = round(((pub.cpuS() - pub0) / satSecs) * 100);
    const satHttp = new Hist().merge(sat.latency).summary();

    // Paced.
    await gens.call("reset", { seqs: 0 });
    const pacedMeter = new Meter(target, [gens, pub]);
    const paced = await publish(pub, target, n, Math.round(p.rate * p.seconds), p.connections, p.rate, p.seconds);
    const pgot = await awaitDeliveries(gens, paced.ok);
    const pcpu = pacedMeter.read((paced.t1_us - paced.t0_us) / 1e6);
    const ps = await gens.stats();
    const pacedHttp = new Hist().merge(paced.latency).summary();
    const pacedLat = ps.hist.summary();

    const saturated: Result = {
      scenario: "unicast",
      target: kind,
      params: { clients: n, publishes: p.publishes, connections: p.connections },
      metrics: {
        publishes_per_s: perSecond(sat.ok, sat.t0_us, sat.t1_us),
        http_errors: sat.errors,
        lost: sat.ok - got,
        server_cpu_us_per_publish: round((cpu.server_cpu_s * 1e6) / Math.max(1, sat.ok), 1),
        server_cpu_pct: cpu.server_cpu_pct,
        server_sys_pct: cpu.server_sys_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        pub_cpu_pct: pubPct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        http_p50_ms: satHttp.p50_ms,
        http_p99_ms: satHttp.p99_ms,
        p99_ms: s.hist.summary().p99_ms,
      },
    };
    const pacedResult: Result = {
      scenario: "unicast-paced",
      target: kind,
      params: { clients: n, rate_per_s: p.rate, seconds: p.seconds, connections: p.connections },
      metrics: {
        publishes_per_s: perSecond(paced.ok, paced.t0_us, paced.t1_us),
        http_errors: paced.errors,
        lost: paced.ok - pgot,
        // At a rate both servers keep up with, each does the same work per second: no feedback from
        // a slower server leaving its readers asleep (a send that wakes one costs more).
        server_cpu_us_per_publish: round((pcpu.server_cpu_s * 1e6) / Math.max(1, paced.ok), 1),
        server_cpu_pct: pcpu.server_cpu_pct,
        gen_cpu_pct: pcpu.gen_cpu_pct,
        cpu0_other_pct: pcpu.cpu0_other_pct,
        http_p50_ms: pacedHttp.p50_ms,
        http_p99_ms: pacedHttp.p99_ms,
        p50_ms: pacedLat.p50_ms,
        p99_ms: pacedLat.p99_ms,
        max_ms: pacedLat.max_ms,
      },
    };
    return [saturated, pacedResult];
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target.stop();
  }
}
