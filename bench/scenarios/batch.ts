/**
 * batch: N connected users; POST /comet/Comet/Batch with `per` Publishes to random users in each
 * request, `connections` requests in flight. Saturated: publishes per second delivered. Paced at
 * `rate` publishes per second (half the 200k target by default): publish-to-receive latency,
 * counted from when each request was due. The floor sends each Publish of the same body to one of
 * its sockets: what the runtime does for 100 sends per request with no gateway in front.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, Gens, Meter, type Result, round, } from "../lib/harness.ts";
import { Hist } from "../lib/hist.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, perSecond, startTarget, subscribedGens } from "./common.ts";

export interface BatchParams {
  clients: number;
  /** Batch requests in the saturated run. */
  requests: number;
  /** Publishes per request. */
  per: number;
  connections: number;
  /** Publishes per second in the paced run. */
  rate: number;
  seconds: number;
}

async function post(pub: Gens, target: Target, p: BatchParams, count: number, rate: number, secs: number) {
  const [r] = await pub.call<PostResult>(
    "posts",
    {
      host: target.host,
      port: target.port,
      ...target.batch(),
      body: { kind: "batch", users: p.clients, evtBytes: EVT_BYTES, per: p.per },
      count,
      connections: p.connections,
      rate: rate / p.per,
      maxSeconds: secs,
    },
    180_000,
  );
  return r as PostResult;
}

/** Two results from one run: saturated ("batch") and paced ("batch-paced"). */
export async function batchScenario(ctx: Ctx, kind: "comet" | "floor", p: BatchParams): Promise<Result[]> {
  const n = p.clients;
  const target = await startTarget(ctx, kind, { yaml: `limits: {max_batch_commands: ${Math.max(1000, p.per)}}` });
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, "", "batch");
    pub = await Gens.start(ctx, 1, "pub");

    await gens.call("reset", { seqs: 0 });
    const warm = Math.min(50, p.requests);
    await post(pub, target, p, warm, 0, 60);
    await awaitDeliveries(gens, warm * p.per);

    await gens.call("reset", { seqs: 0 });
    const meter = new Meter(target, [gens, pub]);
    const sat = await post(pub, target, p, p.requests, 0, 120);
    const got = await awaitDeliveries(gens, sat.ok * p.per);
    const s = await gens.stats();
    const satSecs = (sat.t1_us - sat.t0_us) / 1e6;
    const cpu = meter.read(satSecs);

    await gens.call("reset", { seqs: 0 });
    const pacedMeter = new Meter(target, [gens, pub]);
    const paced = await post(pub, target, p, Math.round((p.rate * p.seconds) / p.per), p.rate, p.seconds);
    const pgot = await awaitDeliveries(gens, paced.ok * p.per);
    const pcpu = pacedMeter.read((paced.t1_us - paced.t0_us) / 1e6);
    const pacedLat = (await gens.stats()).hist.summary();
    const pacedHttp = new Hist().merge(paced.latency).summary();

    const saturated: Result = {
      scenario: "batch",
      target: kind,
      params: { clients: n, requests: p.requests, per: p.per, connections: p.connections },
      metrics: {
        publishes_per_s: perSecond(sat.ok * p.per, sat.t0_us, sat.t1_us),
        http_errors: sat.errors,
        lost: sat.ok * p.per - got,
        server_cpu_us_per_publish: round((cpu.server_cpu_s * 1e6) / Math.max(1, sat.ok * p.per), 2),
        server_cpu_pct: cpu.server_cpu_pct,
        server_sys_pct: cpu.server_sys_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        p99_ms: s.hist.summary().p99_ms,
      },
    };
    const pacedResult: Result = {
      scenario: "batch-paced",
      target: kind,
      params: { clients: n, rate_per_s: p.rate, per: p.per, seconds: p.seconds, connections: p.connections },
      metrics: {
        publishes_per_s: perSecond(paced.ok * p.per, paced.t0_us, paced.t1_us),
        http_errors: paced.errors,
        lost: paced.ok * p.per - pgot,
        server_cpu_pct: pcpu.server_cpu_pct,
        cpu0_other_pct: pcpu.cpu0_other_pct,
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
