/**
 * sse: the fanout of a 100-byte evt to N subscribers in one room, all WebSockets against all
 * Server-Sent Events streams (`GET /comet/sse`). Bun's native topics send a WebSocket broadcast
 * with no JavaScript per recipient; an SSE stream is reached by a loop in JavaScript (the shared
 * bytes made once, an `id:` line of its own per reader): what one delivery costs the server is
 * the figure, in server CPU, with paced broadcasts so that the generators keep up.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, type Gens as GensT, Gens, Meter, round, type Result } from "../lib/harness.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, ROOM, startTarget, subscribedGens } from "./common.ts";

export interface SseParams {
  clients: number;
  broadcasts: number;
  /** Broadcasts per second. */
  rate: number;
}

async function post(pub: GensT, target: Target, count: number, rate: number): Promise<PostResult> {
  const b = target.broadcast(ROOM, EVT_BYTES);
  const [r] = await pub.call<PostResult>(
    "posts",
    { host: target.host, port: target.port, ...b, count, connections: 1, rate, maxSeconds: 120 },
    180_000,
  );
  return r as PostResult;
}

export async function sseScenario(ctx: Ctx, mode: "websocket" | "sse", p: SseParams): Promise<Result> {
  const n = p.clients;
  const target = await startTarget(ctx, "comet");
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, ROOM, "sse", false, mode === "sse");
    pub = await Gens.start(ctx, 1, "pub");

    await gens.call("reset", { seqs: 0 });
    await post(pub, target, 5, 0);
    await awaitDeliveries(gens, 5 * n);

    await gens.call("reset", { seqs: 0 });
    const meter = new Meter(target, [gens, pub]);
    const pr = await post(pub, target, p.broadcasts, p.rate);
    const got = await awaitDeliveries(gens, n * p.broadcasts);
    const s = await gens.stats();
    const cpu = meter.read((s.lastUs - pr.t0_us) / 1e6);
    const lat = s.hist.summary();
    const per = Math.max(1, got);
    return {
      scenario: "sse",
      target: mode,
      params: { clients: n, broadcasts: p.broadcasts, rate_per_s: p.rate, evt_bytes: EVT_BYTES },
      metrics: {
        deliveries: got,
        lost: n * p.broadcasts - got,
        http_errors: pr.errors,
        bad_frames: s.bad,
        deliveries_per_cpu_s: cpu.server_cpu_s > 0 ? Math.round(got / cpu.server_cpu_s) : null,
        server_cpu_us_per_delivery: round((cpu.server_cpu_s * 1e6) / per, 2),
        wire_bytes_per_delivery: round(s.wireBytes / per, 1),
        server_cpu_pct: cpu.server_cpu_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        server_rss_mib: round(target.rssKiB() / 1024, 1),
        p50_ms: lat.p50_ms,
        p99_ms: lat.p99_ms,
      },
    };
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target.stop();
  }
}
