/**
 * What the presence view (view.ts) takes in and gives out: transitions, another instance's activity
 * and snapshot seats, this instance's sessions as the hub holds them, the live servers; and what
 * it keeps per uid.
 */
import type { Activity } from "../hub/activity.ts";

export type PresenceType = "ONLINE" | "OFFLINE";

/** A transition as it goes out (presence topic, webhooks): times in ns as decimal strings. */
export interface PresenceTransition {
  type: PresenceType;
  uid: string;
  rid: string;
  /** The instance that emits it. */
  server: string;
  time: string;
  /** When this online span began: the same in every copy of one transition. */
  since: string;
}

/** A session on another instance. */
export interface Seat {
  server: string;
  rid: string;
  /** Its ONLINE time, ns. */
  time: bigint;
}

export interface Entry {
  since: bigint;
  /** Sessions on other instances (this instance's own is the hub's). */
  seats: Seat[];
  /** While in the grace: when the last seat went (ns), and the server it was on. */
  endedAt?: bigint;
  owner?: string;
}

/** The registry as the view needs it (bridge/cluster/servers.ts; an instance alone without the bridge). */
export interface ServerList {
  readonly self: string;
  live(): readonly string[];
  isLive(server: string): boolean;
}

/** The live instances, with their joins and leaves (the bridge's registry, bridge/cluster/servers.ts). */
export interface ServerChanges extends ServerList {
  /** Called on every join and leave of another instance; returns the unsubscribe. */
  onChange(listener: (c: { server: string; change: "joined" | "left" }) => void): () => void;
}

/** Activity of another instance, as read back from the broker. */
export interface ClusterActivity {
  type: Activity["type"];
  uid: string;
  rid: string;
  time: bigint;
  server: string;
}

/** One seat of a view snapshot: what an instance holds, for an instance that joins. */
export interface SnapshotSeat {
  uid: string;
  rid: string;
  time: string;
  since: string;
}

/** A session on this instance, as the hub holds it. */
export interface LocalSession {
  readonly rid: string;
  /** Its ONLINE time, µs since the epoch (the activity's time is this × 1000 ns). */
  readonly onlineUs: number;
}

export function soloServers(self: string): ServerList {
  const list = [self];
  return { self, live: () => list, isLive: (s) => s === self };
}

/** A session's ONLINE time in ns: the start of its span when nothing older holds one. */
export const sinceOf = (s: LocalSession): bigint => BigInt(s.onlineUs) * 1000n;
