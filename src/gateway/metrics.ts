/**
 * The gateway's instruments: what happens to connections (accepted, refused, ended, by transport)
 * and to their uplinks. Registered by the gateway itself; the counters a connection bumps are
 * looked up once here, never per frame.
 */
import type { Counter, Registry } from "../metrics/registry.ts";
import type { Transport } from "../runtime/types.ts";

export interface GatewayCounters {
  connects: Counter;
  disconnects: Counter;
  rejected: Counter;
  settles: Counter;
  authFailures: Counter;
  heartbeatTimeouts: Counter;
  /** comet_uplink_frames_total: valid frames by MsgType (HB, AUTH, JOIN), and invalid ones. */
  uplinkFrames: { readonly byType: ReadonlyArray<{ inc(): void }>; readonly invalid: { inc(): void } };
}

export function gatewayCounters(registry: Registry): GatewayCounters {
  const uplinks = registry.counter("comet_uplink_frames_total", "Uplink frames, by type");
  return {
    connects: registry.counter(
      "comet_connects_total",
      "Connections accepted (WebSockets, gRPC streams, SSE and NDJSON streams)",
    ),
    disconnects: registry.counter(
      "comet_disconnects_total",
      "Connections ended, by the close code the server decided or saw (codes outside the protocol's: other)",
    ),
    authFailures: registry.counter("comet_auth_failures_total", "Failed AUTH, by reason"),
    heartbeatTimeouts: registry.counter("comet_heartbeat_timeouts_total", "Sessions closed 4408 for silence"),
    rejected: registry.counter("comet_connections_rejected_total", "Connections refused, by reason"),
    settles: registry.counter(
      "comet_gc_settles_total",
      "Full garbage collections run once a wave of 1,000 or more connects and closes was over",
    ),
    uplinkFrames: {
      byType: ["HB", "AUTH", "JOIN"].map((type) => uplinks.with({ type })),
      invalid: uplinks.with({ type: "invalid" }),
    },
  };
}

/** Open connections and live sessions per transport, kept as they open, go live and end. */
export type TransportCounts = Record<Transport, { connections: number; sessions: number }>;

export const emptyTransportCounts = (): TransportCounts => ({
  websocket: { connections: 0, sessions: 0 },
  grpc: { connections: 0, sessions: 0 },
  sse: { connections: 0, sessions: 0 },
  ndjson: { connections: 0, sessions: 0 },
});

/** The gauges read at scrape time off what the gateway already counts. */
export function registerGatewayGauges(
  registry: Registry,
  open: () => number,
  max: () => number,
  counts: TransportCounts,
): void {
  registry.gauge("comet_connections", "Open connections (WebSockets, gRPC streams, SSE and NDJSON streams)", open);
  registry.gauge(
    "comet_connections_max",
    "limits.max_connections as it applies (0 in the config: the open-file limit less the process's own files); 0 = no limit",
    max,
  );
  const series = (field: "connections" | "sessions") => () =>
    (Object.keys(counts) as Transport[]).map((transport): [Record<string, string>, number] => [
      { transport },
      counts[transport][field],
    ]);
  registry.gaugeSeries("comet_connections_by_transport", "Open connections, by transport", series("connections"));
  registry.gaugeSeries("comet_sessions_by_transport", "Authenticated sessions, by transport", series("sessions"));
}
