/**
 * Who is online, debounced: a uid is online from its first session on any instance until it has
 * had none anywhere for `offline_grace`. A reconnect within the grace, on this instance or another,
 * is no transition at all; replacement (4409) never leaves a uid without a session, so it is none
 * either. Fed by this instance's activity, the cluster's activity read back from the broker, the
 * other instances' view snapshots, and the live-server registry (a dead instance's sessions go).
 *
 * Exactly one instance emits each transition: ONLINE the one that holds the first session;
 * OFFLINE the one whose session was the last, or, when that instance is gone, the smallest live
 * server id (UTF-8 byte order), which every instance computes alike.
 *
 * Memory is one entry per online uid (a session seldom has more than one seat, and only while the
 * cluster rule closes the older one), plus one pending deadline per uid in its grace.
 */
import type { Activity } from "../hub/activity.ts";
import { nowNs } from "../hub/activity.ts";
import { compareUtf8 } from "../hub/order.ts";
import type { PresenceEntry } from "../protocol/presence.ts";

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

/** A session somewhere in the cluster. */
interface Seat {
  server: string;
  rid: string;
  /** Its ONLINE time, ns. */
  time: bigint;
}

interface Entry {
  since: bigint;
  seats: Seat[];
  /** While in the grace: when the last seat went (ns), and the server it was on. */
  endedAt?: bigint;
  owner?: string;
}

/** The registry as the view needs it (bridge/servers.ts; an instance alone without the bridge). */
export interface ServerList {
  readonly self: string;
  live(): readonly string[];
  isLive(server: string): boolean;
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

export interface PresenceViewOptions {
  servers: ServerList;
  graceMs: number;
  emit: (t: PresenceTransition) => void;
  /** A reconnect within the grace: an OFFLINE that did not happen. */
  suppressed?: () => void;
}

export function soloServers(self: string): ServerList {
  const list = [self];
  return { self, live: () => list, isLive: (s) => s === self };
}

export class PresenceView {
  private readonly entries = new Map<string, Entry>();
  /** uid → deadline (ms), in deadline order: the grace is one constant, so insertion order is it. */
  private readonly pending = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = 0;
  private servers: ServerList;
  private closed = false;

  constructor(private readonly options: PresenceViewOptions) {
    this.servers = options.servers;
  }

  get self(): string {
    return this.servers.self;
  }

  /** The bridge's registry, once it runs. */
  useServers(servers: ServerList): void {
    this.servers = servers;
  }

  /** Uids online in this view: with a session somewhere, or in their grace. */
  get size(): number {
    return this.entries.size;
  }

  /** Uids in their grace. */
  get inGrace(): number {
    return this.pending.size;
  }

  /** Activity of a session on this instance, as the hub emits it. */
  local(a: Activity): void {
    this.apply(a.type, a.uid, a.rid, BigInt(a.time), this.servers.self);
  }

  /** Activity of another instance. Its ONLINE counts only while that instance is live: no ghosts of the dead. */
  remote(a: ClusterActivity): void {
    if (a.server === this.servers.self) return;
    if (a.type === "ONLINE" && !this.servers.isLive(a.server)) return;
    this.apply(a.type, a.uid, a.rid, a.time, a.server);
  }

  private apply(type: Activity["type"], uid: string, rid: string, time: bigint, server: string): void {
    if (this.closed) return;
    switch (type) {
      case "ONLINE":
        this.seat(uid, server, time, time, server === this.servers.self);
        return;
      case "OFFLINE":
        this.unseat(uid, server, time);
        return;
      case "ENTER_ROOM":
      case "LEAVE_ROOM": {
        const s = this.entries.get(uid)?.seats.find((x) => x.server === server);
        if (s) s.rid = type === "ENTER_ROOM" ? rid : "";
        return;
      }
      default:
        return;
    }
  }

  private seat(uid: string, server: string, time: bigint, since: bigint, emits: boolean, rid = ""): void {
    let e = this.entries.get(uid);
    if (!e) {
      e = { since, seats: [] };
      this.entries.set(uid, e);
      if (emits) this.emit("ONLINE", uid, rid, time, since);
    } else if (e.endedAt !== undefined) {
      e.endedAt = undefined;
      e.owner = undefined;
      this.pending.delete(uid);
      this.options.suppressed?.();
    }
    const old = e.seats.find((x) => x.server === server);
    if (old) {
      old.time = time;
      old.rid = rid;
    } else e.seats.push({ server, rid, time });
  }

  private unseat(uid: string, server: string, time: bigint): void {
    const e = this.entries.get(uid);
    if (!e) return;
    const i = e.seats.findIndex((x) => x.server === server);
    if (i < 0) return;
    e.seats.splice(i, 1);
    if (e.seats.length === 0) this.startGrace(uid, e, server, time);
  }

  private startGrace(uid: string, e: Entry, owner: string, endedAt: bigint): void {
    e.endedAt = endedAt;
    e.owner = owner;
    this.pending.delete(uid);
    this.pending.set(uid, Date.now() + this.options.graceMs);
    this.arm();
  }

  /** An instance is gone: its sessions leave the view now; their OFFLINE comes after the grace. */
  serverLeft(server: string): void {
    if (server === this.servers.self) return;
    const now = BigInt(nowNs());
    for (const [uid, e] of this.entries) {
      const i = e.seats.findIndex((x) => x.server === server);
      if (i < 0) continue;
      e.seats.splice(i, 1);
      if (e.seats.length === 0) this.startGrace(uid, e, server, now);
    }
  }

  /** What this instance holds, for the others (an instance that joins learns the view from these). */
  snapshot(): SnapshotSeat[] {
    const self = this.servers.self;
    const out: SnapshotSeat[] = [];
    for (const [uid, e] of this.entries) {
      for (const s of e.seats) {
        if (s.server === self) out.push({ uid, rid: s.rid, time: String(s.time), since: String(e.since) });
      }
    }
    return out;
  }

  /** Another instance's snapshot: its sessions join the view, silently (it emitted their ONLINE). */
  merge(server: string, seats: readonly SnapshotSeat[]): void {
    if (this.closed || server === this.servers.self || !this.servers.isLive(server)) return;
    for (const s of seats) {
      const e = this.entries.get(s.uid);
      // A span known here already keeps its start; the grace ends without counting a flap.
      if (e?.endedAt !== undefined) {
        e.endedAt = undefined;
        e.owner = undefined;
        this.pending.delete(s.uid);
      }
      this.seat(s.uid, server, BigInt(s.time), BigInt(s.since), false, s.rid);
    }
  }

  /** The Presence method: each uid with a session, its newest session's room and server. */
  query(uids: readonly string[]): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const uid of new Set(uids)) {
      const e = this.entries.get(uid);
      if (e && e.seats.length > 0) out.push(this.entry(uid, e));
    }
    return out.sort((x, y) => compareUtf8(x.uid, y.uid));
  }

  /** The Presence method by room: every uid whose newest session is in rid. */
  room(rid: string): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const [uid, e] of this.entries) {
      if (e.seats.length === 0) continue;
      const p = this.entry(uid, e);
      if (p.rid === rid) out.push(p);
    }
    return out.sort((x, y) => compareUtf8(x.uid, y.uid));
  }

  private entry(uid: string, e: Entry): PresenceEntry {
    let newest = e.seats[0] as Seat;
    for (const s of e.seats) if (s.time > newest.time) newest = s;
    return { uid, rid: newest.rid, server: newest.server, since: String(e.since) };
  }

  /** Stops the timers; nothing is emitted after this (the other instances take over what was in its grace). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private arm(): void {
    const first = this.pending.values().next();
    if (first.done) return;
    const at = first.value;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    // At least one turn of the event loop, even with no grace: a replacement on this instance
    // emits OFFLINE then ONLINE in one go, and must come out as no transition.
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    this.timer.unref?.();
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [uid, at] of this.pending) {
      if (at > now) break;
      this.pending.delete(uid);
      const e = this.entries.get(uid);
      if (!e || e.seats.length > 0 || e.endedAt === undefined) continue;
      this.entries.delete(uid);
      if (this.emitsFor(e.owner as string)) this.emit("OFFLINE", uid, "", e.endedAt, e.since);
    }
    this.arm();
  }

  /** The last session's instance emits; when it is gone, the smallest live server id does. */
  private emitsFor(owner: string): boolean {
    const { self } = this.servers;
    if (owner === self) return true;
    if (this.servers.isLive(owner)) return false;
    return this.servers.live()[0] === self;
  }

  private emit(type: PresenceType, uid: string, rid: string, time: bigint, since: bigint): void {
    this.options.emit({ type, uid, rid, server: this.servers.self, time: String(time), since: String(since) });
  }
}
