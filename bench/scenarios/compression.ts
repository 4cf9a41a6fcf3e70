/**
 * compression: the fanout of a 2 KiB JSON evt to N clients in one room, plain (websocket.compression
 * off) against deflate (on, and every client offers permessage-deflate). Paced, so that the
 * generators, which inflate every frame, keep up: what is compared is what one delivery costs,
 * in bytes on the wire (WebSocket frames as the clients read them) and in server CPU.
 */
import { type Ctx, type Result, round } from "../lib/harness.ts";
import { pacedRoomBroadcasts } from "./common.ts";

export interface CompressionParams {
  clients: number;
  broadcasts: number;
  /** Broadcasts per second. */
  rate: number;
}

export const COMPRESSED_EVT_BYTES = 2048;
const MIN_BYTES = 256;

export function compressionScenario(ctx: Ctx, mode: "plain" | "deflate", p: CompressionParams): Promise<Result> {
  const n = p.clients;
  const deflate = mode === "deflate";
  const yaml = `websocket: {compression: ${deflate ? "on" : "off"}, compression_min_bytes: ${MIN_BYTES}}\n`;
  const o = { what: "compression", yaml, n, evtBytes: COMPRESSED_EVT_BYTES, json: true, deflate };
  return pacedRoomBroadcasts(ctx, o, p, ({ target, deliveries: got, expected, post: pr, stats: s, cpu }) => {
    const lat = s.hist.summary();
    const per = Math.max(1, got);
    return {
      scenario: "compression",
      target: mode,
      params: { clients: n, broadcasts: p.broadcasts, rate_per_s: p.rate, evt_bytes: COMPRESSED_EVT_BYTES },
      metrics: {
        deliveries: got,
        lost: expected - got,
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
  });
}
