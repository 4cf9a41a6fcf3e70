/** The gauges and read-at-scrape counters of one instance: state the hub and gateway already hold. */
import type { Gateway } from "../gateway/gateway.ts";
import type { GrpcSocket } from "../grpc/socket.ts";
import type { Hub } from "../hub/hub.ts";
import type { StreamSocket } from "../sse/socket.ts";
import type { Registry } from "../metrics/registry.ts";

type Labels = Record<string, string>;

export function registerGauges(
  registry: Registry,
  hub: Hub,
  gateway: Gateway,
  grpcSockets: () => Iterable<GrpcSocket>,
  streamSockets: () => Iterable<StreamSocket>,
): void {
  registry.gauge(
    "comet_connections",
    "Open connections (WebSockets, gRPC streams, SSE and NDJSON streams)",
    () => gateway.connections.size,
  );
  registry.gauge(
    "comet_connections_max",
    "limits.max_connections as it applies (0 in the config: the open-file limit less the process's own files); 0 = no limit",
    () => gateway.capacity.max,
  );
  registry.gauge("comet_sessions", "Authenticated sessions", () => hub.sessions.size);
  registry.gauge("comet_rooms", "Rooms with at least one session", () => hub.rooms.size);
  registry.counterFn("comet_pushes_delivered_total", "PUSH frames handed to sessions", () => hub.stats.pushesDelivered);
  registry.counterFn(
    "comet_pushes_unrouted_total",
    "Publishes and broadcasts with no recipient here",
    () => hub.stats.pushesUnrouted,
  );
  const { history } = hub;
  registry.gauge(
    "comet_history_bytes",
    "Bytes of kept messages (evt in UTF-8 plus a fixed cost each), within history.max_bytes",
    () => history.bytes,
  );
  registry.gauge("comet_history_messages", "Messages kept for recovery, every stream", () => history.entries);
  registry.gauge(
    "comet_history_streams",
    "Streams numbered (users', rooms', the world's), live or within history.ttl",
    () => history.streams,
  );
  registry.counterSeries(
    "comet_history_evicted_total",
    "Kept messages dropped, by reason: size (history.size), ttl, max_bytes",
    () => (["size", "ttl", "max_bytes"] as const).map((reason) => [{ reason }, history.evicted[reason]]),
  );
  registry.gauge("comet_process_resident_memory_bytes", "Resident set size", () => process.memoryUsage().rss);
  registry.gauge("comet_process_heap_used_bytes", "JavaScript heap in use", () => process.memoryUsage().heapUsed);
  // Every transport but WebSocket keeps its sockets in a set: count those, and the rest is WebSocket.
  const open = () => {
    const connections = { grpc: 0, sse: 0, ndjson: 0 };
    const sessions = { grpc: 0, sse: 0, ndjson: 0 };
    const count = (kind: keyof typeof connections, live: boolean | undefined) => {
      connections[kind]++;
      if (live) sessions[kind]++;
    };
    for (const s of grpcSockets()) count("grpc", s.conn?.live);
    for (const s of streamSockets()) count(s.transport, s.conn?.live);
    return { connections, sessions };
  };
  const byTransport = (total: number, others: Record<"grpc" | "sse" | "ndjson", number>): Array<[Labels, number]> => [
    [{ transport: "websocket" }, total - others.grpc - others.sse - others.ndjson],
    [{ transport: "grpc" }, others.grpc],
    [{ transport: "sse" }, others.sse],
    [{ transport: "ndjson" }, others.ndjson],
  ];
  registry.gaugeSeries("comet_connections_by_transport", "Open connections, by transport", () =>
    byTransport(gateway.connections.size, open().connections),
  );
  registry.gaugeSeries("comet_sessions_by_transport", "Authenticated sessions, by transport", () =>
    byTransport(hub.sessions.size, open().sessions),
  );
}
