/**
 * compression: the fanout of a 2 KiB JSON evt to N clients in one room, plain (websocket.compression
 * off) against deflate (on, and every client offers permessage-deflate). Paced, so that the
 * generators, which inflate every frame, keep up: what is compared is what one delivery costs,
 * in bytes on the wire (WebSocket frames as the clients read them) and in server CPU.
 */
import type { PostResult } from "../lib/http.ts";
import { type Ctx, type Gens as GensT, Gens, Meter, round, type Result } from "../lib/harness.ts";
import type { Target } from "../lib/targets.ts";
import { awaitDeliveries, ROOM, startTarget, subscribedGens } from "./common.ts";

export interface CompressionParams {
  clients: number;
  broadcasts: number;
  /** Broadcasts per second. */
  rate: number;
}

export const COMPRESSED_EVT_BYTES = 2048;
const MIN_BYTES = 256;

async function post(pub: GensT, target: Target, count: number, rate: number): Promise<PostResult> {
  const b = target.broadcast(ROOM, COMPRESSED_EVT_BYTES, true);
  const [r] = await pub.call<PostResult>(
    "posts",
    { host: target.host, port: target.port, ...b, count, connections: 1, rate, maxSeconds: 120 },
    180_000,
  );
  return r as PostResult;
}

export async function compressionScenario(ctx: Ctx, mode: "plain" | "deflate", p: CompressionParams): Promise<Result> {
  const n = p.clients;
  const deflate = mode === "deflate";
  const yaml = `websocket: {compression: ${deflate ? "on" : "off"}, compression_min_bytes: ${MIN_BYTES}}\n`;
  const target = await startTarget(ctx, "comet", yaml);
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    gens = await subscribedGens(ctx, target, n, ROOM, "compression", deflate);
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
      scenario: "compression",
      target: mode,
      params: { clients: n, broadcasts: p.broadcasts, rate_per_s: p.rate, evt_bytes: COMPRESSED_EVT_BYTES },
      metrics: {
        deliveries: got,
        lost: n * p.broadcasts - got,
        http_errors: pr.errors,
        bad_frames: s.bad,
        wire_bytes_per_delivery: round(s.wireBytes / per, 1),
        server_cpu_us_per_delivery: round((cpu.server_cpu_s * 1e6) / per, 2),
        deliveries_per_cpu_s: cpu.server_cpu_s > 0 ? Math.round(got / cpu.server_cpu_s) : null,
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
