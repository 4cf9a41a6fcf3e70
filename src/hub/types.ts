/** The hub's small types: its options, its counters, what a room is. */
import type { Fanout } from "../runtime/types.ts";
import type { HistoryLimits, Stream } from "./history.ts";

/** The history config's defaults (config/schema.ts), for a hub made without a config (tests). */
export const DEFAULT_HISTORY: HistoryLimits = { size: 32, ttl: 120_000, maxBytes: 64 * 1024 * 1024 };

export interface HubOptions {
  history?: HistoryLimits;
  fanouts?: Fanout[];
}

export interface HubStats {
  pushesDelivered: number;
  /** Publishes and broadcasts that found no recipient on this instance. */
  pushesUnrouted: number;
}

/**
 * A room is its member count: who is in it is each session's `rid` (DumpSession collects them).
 * A Set of members would cost ~140 bytes per session in JavaScriptCore.
 */
export interface Room {
  /** The room's id; its members' `rid` is this very string (one copy per room, not per session). */
  readonly rid: string;
  readonly topic: string;
  /** The twin topic of its members with positions. */
  readonly ptopic: string;
  readonly stream: Stream;
  size: number;
  /** Members with positions (also counted in size). */
  psize: number;
}

