/** The gauges and read-at-scrape counters of one instance: state the hub and gateway already hold. */
import type { Gateway } from "../gateway/gateway.ts";
import type { GrpcSocket } from "../grpc/socket.ts";
import type { Hub } from "../hub/hub.ts";
import type { Registry } from "./metrics.ts";

export function registerGauges(
  registry: Registry,
  hub: Hub,
  gateway: Gateway,
  grpcSockets: () => Iterable<GrpcSocket>,
): void {
  registry.gauge("comet_connections", "Open connections (WebSocket and gRPC streams)", () => gateway.connections.size);
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
  const grpcOpen = () => {
    let connections = 0;
    let sessions = 0;
    for (const s of grpcSockets()) {
      connections++;
      if (s.conn?.live) sessions++;
    }
    return { connections, sessions };
  };
  registry.gaugeSeries("comet_connections_by_transport", "Open connections, by transport", () => {
    const g = grpcOpen().connections;
    return [
      [{ transport: "websocket" }, gateway.connections.size - g],
      [{ transport: "grpc" }, g],
    ];
  });
  registry.gaugeSeries("comet_sessions_by_transport", "Authenticated sessions, by transport", () => {
    const g = grpcOpen().sessions;
    return [
      [{ transport: "websocket" }, hub.sessions.size - g],
      [{ transport: "grpc" }, g],
    ];
  });
}
