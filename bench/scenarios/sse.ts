/**
 * sse: the fanout of a 100-byte evt to N subscribers in one room, all WebSockets against all
 * Server-Sent Events streams (`GET /comet/sse`). Bun's native topics send a WebSocket broadcast
 * with no JavaScript per recipient; an SSE stream is reached by a loop in JavaScript (the shared
 * bytes made once, an `id:` line of its own per reader): what one delivery costs the server is
 * the figure, in server CPU, with paced broadcasts so that the generators keep up.
 */
import { type Ctx, type Result, round } from "../lib/harness.ts";
import { EVT_BYTES, pacedRoomBroadcasts } from "./common.ts";

export interface SseParams {
  clients: number;
  broadcasts: number;
  /** Broadcasts per second. */
  rate: number;
}

export function sseScenario(ctx: Ctx, mode: "websocket" | "sse", p: SseParams): Promise<Result> {
  const n = p.clients;
  const o = { what: "sse", n, evtBytes: EVT_BYTES, sse: mode === "sse" };
  return pacedRoomBroadcasts(ctx, o, p, ({ target, deliveries: got, expected, post: pr, stats: s, cpu }) => {
    const lat = s.hist.summary();
    const per = Math.max(1, got);
    return {
      scenario: "sse",
      target: mode,
      params: { clients: n, broadcasts: p.broadcasts, rate_per_s: p.rate, evt_bytes: EVT_BYTES },
      metrics: {
        deliveries: got,
        lost: expected - got,
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
  });
}
