/** The hub's instruments, read at scrape time off what it already holds (sessions, rooms, history). */
import type { Registry } from "../metrics/registry.ts";
import type { Hub } from "./hub.ts";

export function registerHubMetrics(registry: Registry, hub: Hub): void {
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
    "Bytes of kept messages (evt in UTF-8 plus a fixed cost each) and of live streams (a fixed cost plus their key), within history.max_bytes",
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
  registry.counterFn(
    "comet_history_streams_evicted_total",
    "Streams nobody held, dropped before history.ttl (with what they kept) to stay within history.max_bytes",
    () => history.streamsEvicted,
  );
}
