/**
 * The presence view's side of the bridge. In: the other instances' activity (via activity-in.ts),
 * their joins and leaves (servers.ts: a dead instance's sessions leave the view), and their view
 * snapshots on `comet/servers/<id>/view`, which let an instance that joins learn who is online
 * within a second or two. Out: this instance's snapshot whenever an instance joins (or this one
 * connects), and the transitions it emits, on mqtt.presence_topic.
 *
 * A snapshot carries its time, strictly increasing per sender; a snapshot not newer than the last
 * one merged from that server is dropped: whoever reads the broker holds signed snapshots, and one
 * replayed after its users left would seat them again for as long as their instance lives.
 */

import type { Counter } from "../metrics/registry.ts";
import { nowNs } from "../hub/activity.ts";
import type { Logger } from "../log.ts";
import type { ServerChanges } from "./types.ts";
import type { PresenceTransition, PresenceView, SnapshotSeat } from "./view.ts";
import { jsonObjectOf } from "../protocol/json.ts";
import { RateLimitedWarn } from "../util/ratelog.ts";
import { activitySignature, signatureValid } from "../util/signature.ts";

/** Seats per snapshot message: a few tens of KiB, well within any broker's packet limit. */
const SEATS_PER_MESSAGE = 500;
/** Joins that come together (a broker restart: every instance at once) cost one snapshot. */
const SNAPSHOT_DELAY_MS = 50;

/** What the presence link sends its snapshots through (the broker link, at the bridge's QoS). */
export interface ViewWire {
  readonly connected: boolean;
  publish(topic: string, payload: string): void;
}

/** Where transitions go out (an outbox to mqtt.presence_topic), by type. */
export interface TransitionsOut {
  send(type: string, payload: string): void;
}

export interface PresenceLinkOptions {
  view: PresenceView;
  servers: ServerChanges;
  wire: ViewWire;
  /** Transitions go out through it, to mqtt.presence_topic. */
  outbox: TransitionsOut;
  /** Where instances keep their statuses and views: a view is on `<serversTopic>/<server>/view`. */
  serversTopic: string;
  clusterKey?: string;
  /** Snapshots read, by outcome: merged, own, invalid, unsigned, stale. */
  received: Counter;
  /** comet_bridge_activity_in_total, where every unsigned cluster message is counted. */
  unsigned: Counter;
  log: Logger;
}

/** A snapshot's signed fields: its seats go in `rid`, as their JSON, so that none can be changed. */
const signed = (server: string, time: string, seatsJson: string) => ({
  type: "view",
  uid: "",
  rid: seatsJson,
  time,
  server,
});

export function encodeView(
  server: string,
  seats: readonly SnapshotSeat[],
  clusterKey?: string,
  time: string = nowNs(),
): string {
  const list = JSON.stringify(seats.map((s) => [s.uid, s.rid, s.time, s.since]));
  const sig = clusterKey ? `,"sig":"${activitySignature(clusterKey, signed(server, time, list))}"` : "";
  return `{"type":"view","server":${JSON.stringify(server)},"time":"${time}","seats":${list}${sig}}`;
}

export interface ViewSnapshot {
  /** When the sender made it, ns: strictly increasing per sender. */
  time: bigint;
  seats: SnapshotSeat[];
}

/** A snapshot from `comet/servers/<server>/view`; undefined when it is not one, "unsigned" when its sig is wrong. */
export function parseView(
  server: string,
  payload: Uint8Array,
  clusterKey?: string,
): ViewSnapshot | "unsigned" | undefined {
  const o = jsonObjectOf(payload);
  if (!o) return undefined;
  const { type, server: named, time, seats, sig } = o;
  const digits = /^\d{1,20}$/;
  if (type !== "view" || named !== server || typeof time !== "string" || !digits.test(time) || !Array.isArray(seats))
    return undefined;
  const out: SnapshotSeat[] = [];
  for (const s of seats) {
    if (!Array.isArray(s) || s.length !== 4) return undefined;
    const [uid, rid, t, since] = s as unknown[];
    if (typeof uid !== "string" || uid === "" || typeof rid !== "string") return undefined;
    if (typeof t !== "string" || !digits.test(t) || typeof since !== "string" || !digits.test(since)) return undefined;
    out.push({ uid, rid, time: t, since });
  }
  if (clusterKey) {
    const fields = signed(server, time, JSON.stringify(seats));
    if (!signatureValid(clusterKey, fields, typeof sig === "string" ? sig : undefined)) return "unsigned";
  }
  return { time: BigInt(time), seats: out };
}

/** A transition as it goes out on mqtt.presence_topic; signed like activity with mqtt.cluster_key. */
export function encodeTransition(t: PresenceTransition, clusterKey?: string): string {
  const { type, uid, rid, server, time, since } = t;
  const fields = { type, uid, rid, server, time, since };
  if (!clusterKey) return JSON.stringify(fields);
  return JSON.stringify({ ...fields, sig: activitySignature(clusterKey, { type, uid, rid, time, server }) });
}

export class PresenceLink {
  private snapshotTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly unlisten: () => void;
  private readonly invalid: RateLimitedWarn;
  private readonly unsignedWarn: RateLimitedWarn;
  private readonly staleWarn: RateLimitedWarn;
  /** The time of the last snapshot merged, per live server that sent one (as many as the registry knows). */
  private readonly lastView = new Map<string, bigint>();
  /** The time of this instance's last snapshot message: the next is later, even within one microsecond. */
  private lastSent = 0n;

  constructor(private readonly options: PresenceLinkOptions) {
    const { view, servers, log } = options;
    view.useServers(servers);
    this.unlisten = servers.onChange((c) => {
      if (c.change === "left") view.serverLeft(c.server);
      else this.scheduleSnapshot();
    });
    this.invalid = new RateLimitedWarn(log, "mqtt: presence view snapshot not understood");
    this.unsignedWarn = new RateLimitedWarn(
      log,
      "mqtt: presence view snapshot without a valid cluster_key signature ignored",
    );
    this.staleWarn = new RateLimitedWarn(log, "mqtt: presence view snapshot not newer than the last one ignored");
  }

  /** On each connection: the others may have dropped this instance's sessions while it was away. */
  connected(): void {
    this.scheduleSnapshot();
  }

  transition(t: PresenceTransition): void {
    this.options.outbox.send(t.type, encodeTransition(t, this.options.clusterKey));
  }

  /** A message on VIEWS_FILTER. */
  receive(topic: string, payload: Uint8Array): void {
    const { view, servers, received, clusterKey } = this.options;
    const server = topic.slice(this.options.serversTopic.length + 1, -"/view".length);
    if (server === servers.self) {
      received.inc({ outcome: "own" });
      return;
    }
    const snap = parseView(server, payload, clusterKey);
    if (snap === undefined) {
      received.inc({ outcome: "invalid" });
      this.invalid.warn({ topic, bytes: payload.byteLength });
      return;
    }
    if (snap === "unsigned") {
      received.inc({ outcome: "unsigned" });
      this.options.unsigned.inc({ outcome: "unsigned" });
      this.unsignedWarn.warn({ topic, server });
      return;
    }
    const last = this.lastView.get(server);
    if (last !== undefined && snap.time <= last) {
      received.inc({ outcome: "stale" });
      this.staleWarn.warn({ topic, server });
      return;
    }
    // Only a live server's: the view ignores the others' snapshots, and they must cost nothing.
    if (servers.isLive(server)) this.lastView.set(server, snap.time);
    received.inc({ outcome: "merged" });
    view.merge(server, snap.seats);
  }

  private scheduleSnapshot(): void {
    if (this.snapshotTimer) return;
    this.snapshotTimer = setTimeout(() => {
      this.snapshotTimer = undefined;
      this.publishSnapshot();
    }, SNAPSHOT_DELAY_MS);
  }

  private publishSnapshot(): void {
    const { wire, view, servers, clusterKey, serversTopic } = this.options;
    if (!wire.connected) return;
    const seats = view.snapshot();
    const topic = `${serversTopic}/${servers.self}/view`;
    // An empty snapshot is sent too: it is how an instance that joins knows this one holds no one.
    for (let i = 0; i === 0 || i < seats.length; i += SEATS_PER_MESSAGE) {
      const now = BigInt(nowNs());
      this.lastSent = now > this.lastSent ? now : this.lastSent + 1n;
      const part = seats.slice(i, i + SEATS_PER_MESSAGE);
      wire.publish(topic, encodeView(servers.self, part, clusterKey, String(this.lastSent)));
    }
  }

  close(): void {
    this.unlisten();
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
  }
}
