/**
 * Which instances are alive. Each bridge keeps a retained `online` on `comet/servers/<id>` and
 * leaves an MQTT Last Will of `offline` there, so that a crash (kill -9, a lost host) is told to
 * every other instance by the broker itself. This module reads those statuses into a registry of
 * live server ids with join/leave events, and makes the two messages this instance sends.
 *
 * A status is JSON `{"type":"online"|"offline","server","time"}` (plus `sig` with
 * mqtt.cluster_key): `time` is the connection's start, the same in its `online` and its will, so
 * that a status from an earlier connection (a replay, a late will) is recognised as stale. Once an
 * `offline` of time T is known, a status of time T or earlier changes nothing: the connection of
 * time T is over, and a signed `online` of it replayed must not bring the instance back.
 */

import type { Counter } from "../../metrics/registry.ts";
import { nowNs } from "../../hub/activity.ts";
import { compareUtf8 } from "../../util/order.ts";
import type { Logger } from "../../log.ts";
import { jsonObjectOf } from "../../protocol/json.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import { activitySignature, signatureValid } from "../../util/signature.ts";

/** Where statuses live: one retained message per instance under it. */
export const SERVERS_TOPIC = "comet/servers";
export const SERVERS_FILTER = `${SERVERS_TOPIC}/+`;

export type StatusType = "online" | "offline";

export interface ServerStatus {
  type: StatusType;
  server: string;
  /** The connection's start, ns since the epoch. */
  time: bigint;
  sig?: string;
}

export interface StatusMessage {
  topic: string;
  payload: string;
  qos: 1;
  retain: true;
}

export type ServerChange = { server: string; change: "joined" | "left" };
export type ServerListener = (c: ServerChange) => void;

/** What other modules need of the registry (presence, cluster-wide requests). */
export interface LiveServers {
  /** This instance's id. */
  readonly self: string;
  /** Live server ids, this one included, in UTF-8 byte order. */
  live(): readonly string[];
  isLive(server: string): boolean;
  /** Called on every join and leave of another instance; returns the unsubscribe. */
  onChange(listener: ServerListener): () => void;
}

export function statusTopic(server: string): string {
  return `${SERVERS_TOPIC}/${server}`;
}

export function encodeStatus(type: StatusType, server: string, time: string, clusterKey?: string): string {
  const fields = { type, server, time };
  if (!clusterKey) return JSON.stringify(fields);
  return JSON.stringify({ ...fields, sig: activitySignature(clusterKey, { type, uid: "", rid: "", time, server }) });
}

/**
 * A status read from `comet/servers/<server>`: undefined when it is not one, "cleared" for an empty
 * payload (a retained status removed). The server named inside must be the topic's.
 */
export function parseStatus(server: string, payload: Uint8Array): ServerStatus | "cleared" | undefined {
  if (payload.byteLength === 0) return "cleared";
  const o = jsonObjectOf(payload);
  if (!o) return undefined;
  const { type, server: named, time, sig } = o;
  if ((type !== "online" && type !== "offline") || named !== server || server === "") return undefined;
  if (typeof time !== "string" || !/^\d{1,20}$/.test(time)) return undefined;
  return { type, server, time: BigInt(time), sig: typeof sig === "string" ? sig : undefined };
}

export interface ServerRegistryOptions {
  self: string;
  clusterKey?: string;
  /** By outcome: online, offline, stale, cleared, invalid, unsigned, own. */
  received: Counter;
  /** comet_bridge_activity_in_total: the protocol counts every unsigned cluster message there. */
  unsigned: Counter;
  log: Logger;
  /** How long after a reconnect a server must announce itself again to stay known (ms). */
  resyncMs?: number;
}

interface Known {
  time: bigint;
  live: boolean;
  /** An `offline` of `time` was received: that connection is over, and nothing of it counts again. */
  ended: boolean;
  /** Not heard from since this instance reconnected: dropped if still so when the resync ends. */
  unconfirmed: boolean;
}

export class ServerRegistry implements LiveServers {
  readonly self: string;
  private readonly known = new Map<string, Known>();
  private readonly listeners: ServerListener[] = [];
  private sorted: readonly string[];
  /** The current connection's start: the time of this instance's online and of its will. */
  private connectedAt = nowNs();
  private resyncTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly invalid: RateLimitedWarn;
  private readonly unsigned: RateLimitedWarn;

  constructor(private readonly options: ServerRegistryOptions) {
    this.self = options.self;
    this.sorted = [options.self];
    this.invalid = new RateLimitedWarn(options.log, "mqtt: server status not understood");
    this.unsigned = new RateLimitedWarn(
      options.log,
      "mqtt: server status without a valid cluster_key signature ignored",
    );
  }

  live(): readonly string[] {
    return this.sorted;
  }

  isLive(server: string): boolean {
    return server === this.self || this.known.get(server)?.live === true;
  }

  onChange(listener: ServerListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The Last Will for the next connection; it starts that connection's time. */
  will(): StatusMessage {
    this.connectedAt = nowNs();
    return this.message("offline");
  }

  /** The retained `online` to publish once connected, with the same time as the will. */
  online(): StatusMessage {
    return this.message("online");
  }

  /** The `offline` a graceful shutdown publishes in place of its will. */
  offline(): StatusMessage {
    return this.message("offline");
  }

  private message(type: StatusType): StatusMessage {
    const { self, clusterKey } = this.options;
    return {
      topic: statusTopic(self),
      payload: encodeStatus(type, self, this.connectedAt, clusterKey),
      qos: 1,
      retain: true,
    };
  }

  /**
   * After a reconnect, an instance that died and had its status cleared meanwhile would be thought
   * alive for ever: every server must announce itself again (its retained status comes with the
   * new subscription) within resyncMs, or it is taken as gone.
   */
  resync(): void {
    for (const k of this.known.values()) if (k.live) k.unconfirmed = true;
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      for (const [server, k] of this.known) {
        if (k.live && k.unconfirmed) this.leave(server, k);
      }
    }, this.options.resyncMs ?? 2000);
    this.resyncTimer.unref?.();
  }

  /** A message on SERVERS_FILTER. */
  receive(topic: string, payload: Uint8Array): void {
    const { received, clusterKey } = this.options;
    const server = topic.slice(SERVERS_TOPIC.length + 1);
    if (server === this.self) {
      received.inc({ outcome: "own" });
      return;
    }
    const s = parseStatus(server, payload);
    if (s === undefined) {
      received.inc({ outcome: "invalid" });
      this.invalid.warn({ topic, bytes: payload.byteLength });
      return;
    }
    const k = this.known.get(server);
    if (s === "cleared") {
      // Clearing only forgets an instance already gone: an empty payload cannot be signed. With a
      // cluster key the end of its last connection is kept, or a replay of that connection's
      // signed online would be believed again (one entry per instance that ever ran, as unsigned).
      if (k && !k.live && !clusterKey) this.known.delete(server);
      received.inc({ outcome: "cleared" });
      return;
    }
    if (clusterKey && !this.signed(s, clusterKey)) {
      received.inc({ outcome: "unsigned" });
      this.options.unsigned.inc({ outcome: "unsigned" });
      this.unsigned.warn({ topic, server });
      return;
    }
    if (k && (s.time < k.time || (s.time === k.time && k.ended))) {
      received.inc({ outcome: "stale" });
      return;
    }
    if (s.type === "online") {
      received.inc({ outcome: "online" });
      if (k?.live) {
        k.time = s.time;
        k.unconfirmed = false;
        return;
      }
      // Back with a newer connection (or confirmed after a resync took it for gone).
      this.known.set(server, { time: s.time, live: true, ended: false, unconfirmed: false });
      this.changed(server, "joined");
      return;
    }
    received.inc({ outcome: "offline" });
    if (k?.live) {
      k.time = s.time;
      k.ended = true;
      this.leave(server, k);
    } else this.known.set(server, { time: s.time, live: false, ended: true, unconfirmed: false });
  }

  close(): void {
    if (this.resyncTimer) clearTimeout(this.resyncTimer);
    this.resyncTimer = undefined;
  }

  private signed(s: ServerStatus, key: string): boolean {
    return signatureValid(key, { type: s.type, uid: "", rid: "", time: String(s.time), server: s.server }, s.sig);
  }

  private leave(server: string, k: Known): void {
    k.live = false;
    k.unconfirmed = false;
    this.changed(server, "left");
  }

  private changed(server: string, change: ServerChange["change"]): void {
    this.sorted = [this.self, ...[...this.known].filter(([, k]) => k.live).map(([id]) => id)].sort(compareUtf8);
    this.options.log.info(change === "joined" ? "cluster: server joined" : "cluster: server left", { server });
    for (const l of [...this.listeners]) l({ server, change });
  }
}
