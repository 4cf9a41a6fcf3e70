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
 * This instance's sessions are read from the hub, not copied: a uid gets an entry here only while it
 * has a session on another instance, is in its grace, or holds a span that began before its session
 * here (a reconnect within the grace). An idle connection costs the view nothing.
 */
import { type Activity, nowNs } from "../hub/activity.ts";
import { compareUtf8 } from "../util/order.ts";
import type { PresenceEntry } from "../protocol/presence.ts";
import {
  type ClusterActivity,
  type Entry,
  type LocalSession,
  type PresenceTransition,
  type PresenceType,
  type ServerList,
  type SnapshotSeat,
  sinceOf,
} from "./types.ts";
import { GraceDeadlines } from "./grace.ts";

export type {
  ClusterActivity,
  LocalSession,
  PresenceTransition,
  PresenceType,
  ServerList,
  SnapshotSeat,
} from "./types.ts";
export { soloServers } from "./types.ts";

export interface PresenceViewOptions {
  servers: ServerList;
  /** This instance's sessions by uid: the hub's own map. */
  sessions: ReadonlyMap<string, LocalSession>;
  graceMs: number;
  emit: (t: PresenceTransition) => void;
  /** A reconnect within the grace: an OFFLINE that did not happen. */
  suppressed?: () => void;
}

export class PresenceView {
  /** Uids with a session elsewhere, in their grace, or with a span older than their session here. */
  private readonly entries = new Map<string, Entry>();
  /** The uids in their grace. */
  private readonly grace: GraceDeadlines;
  private readonly sessions: ReadonlyMap<string, LocalSession>;
  private servers: ServerList;
  private closed = false;

  constructor(private readonly options: PresenceViewOptions) {
    this.servers = options.servers;
    this.sessions = options.sessions;
    this.grace = new GraceDeadlines(options.graceMs, (uid) => this.graceOver(uid));
  }

  get self(): string {
    return this.servers.self;
  }

  /** The live instances this view knows, this one included (the console lists them). */
  liveServers(): readonly string[] {
    return this.servers.live();
  }

  /** The bridge's registry, once it runs. */
  useServers(servers: ServerList): void {
    this.servers = servers;
  }

  /** Uids online in this view: with a session somewhere, or in their grace. */
  get size(): number {
    let n = this.sessions.size;
    for (const uid of this.entries.keys()) if (!this.sessions.has(uid)) n++;
    return n;
  }

  /** Uids in their grace. */
  get inGrace(): number {
    return this.grace.size;
  }

  /**
   * Activity of a session on this instance, as the hub emits it, with that session (for an
   * OFFLINE, the one that just ended: the hub no longer holds it).
   */
  local(a: Activity, session: LocalSession): void {
    if (this.closed) return;
    if (a.type === "ONLINE") this.localOnline(a.uid, a.time);
    else if (a.type === "OFFLINE") this.localOffline(a.uid, session, BigInt(a.time));
  }

  /** Activity of another instance. Its ONLINE counts only while that instance is live: no ghosts of the dead. */
  remote(a: ClusterActivity): void {
    if (this.closed || a.server === this.servers.self) return;
    switch (a.type) {
      case "ONLINE":
        if (this.servers.isLive(a.server)) this.seat(a.uid, a.server, a.time, a.time, "");
        return;
      case "OFFLINE":
        this.unseat(a.uid, a.server, a.time);
        return;
      case "ENTER_ROOM":
      case "LEAVE_ROOM": {
        const s = this.entries.get(a.uid)?.seats.find((x) => x.server === a.server);
        if (s) s.rid = a.type === "ENTER_ROOM" ? a.rid : "";
        return;
      }
      default:
        return;
    }
  }

  /**
   * The uid's span goes on (grace ended, or a session elsewhere), or a new one starts with this
   * ONLINE. `time` is the activity's, as the hub wrote it (decimal ns): a new span's transition
   * carries it as it is, with no round trip through a BigInt on every connect.
   */
  private localOnline(uid: string, time: string): void {
    const e = this.entries.get(uid);
    if (!e) {
      this.emit("ONLINE", uid, "", time, time);
      return;
    }
    if (e.endedAt !== undefined) this.endGrace(uid, e, true);
  }

  private localOffline(uid: string, ended: LocalSession, time: bigint): void {
    // A replacement on this instance: the newer session holds the span, which began with the older.
    if (this.sessions.has(uid)) {
      if (!this.entries.has(uid)) this.entries.set(uid, { since: sinceOf(ended), seats: [] });
      return;
    }
    let e = this.entries.get(uid);
    if (!e) {
      e = { since: sinceOf(ended), seats: [] };
      this.entries.set(uid, e);
    }
    if (e.seats.length === 0) this.startGrace(uid, e, this.servers.self, time);
  }

  private seat(uid: string, server: string, time: bigint, since: bigint, rid: string): void {
    let e = this.entries.get(uid);
    if (!e) {
      // A session here already began the span; else the instance that holds the first one emits.
      const here = this.sessions.get(uid);
      e = { since: here ? sinceOf(here) : since, seats: [] };
      this.entries.set(uid, e);
    } else if (e.endedAt !== undefined) this.endGrace(uid, e, true);
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
    if (e.seats.length === 0) this.seatsGone(uid, e, server, time);
  }

  /** A uid's last session elsewhere went: its grace starts, unless it has one here. */
  private seatsGone(uid: string, e: Entry, owner: string, endedAt: bigint): void {
    const here = this.sessions.get(uid);
    if (!here) this.startGrace(uid, e, owner, endedAt);
    else if (e.since === sinceOf(here)) this.entries.delete(uid); // the hub alone tells it now
  }

  private startGrace(uid: string, e: Entry, owner: string, endedAt: bigint): void {
    e.endedAt = endedAt;
    e.owner = owner;
    this.grace.start(uid);
  }

  /** A session came back within the grace: no transition (counted as a flap unless silent). */
  private endGrace(uid: string, e: Entry, counted: boolean): void {
    e.endedAt = undefined;
    e.owner = undefined;
    this.grace.cancel(uid);
    if (counted) this.options.suppressed?.();
  }

  /** An instance is gone: its sessions leave the view now; their OFFLINE comes after the grace. */
  serverLeft(server: string): void {
    if (server === this.servers.self) return;
    const now = BigInt(nowNs());
    for (const [uid, e] of this.entries) {
      const i = e.seats.findIndex((x) => x.server === server);
      if (i < 0) continue;
      e.seats.splice(i, 1);
      if (e.seats.length === 0) this.seatsGone(uid, e, server, now);
    }
  }

  /** What this instance holds, for the others (an instance that joins learns the view from these). */
  snapshot(): SnapshotSeat[] {
    const out: SnapshotSeat[] = [];
    for (const [uid, s] of this.sessions) {
      const time = sinceOf(s);
      const since = this.entries.get(uid)?.since ?? time;
      out.push({ uid, rid: s.rid, time: String(time), since: String(since) });
    }
    return out;
  }

  /** Another instance's snapshot: its sessions join the view, silently (it emitted their ONLINE). */
  merge(server: string, seats: readonly SnapshotSeat[]): void {
    if (this.closed || server === this.servers.self || !this.servers.isLive(server)) return;
    for (const s of seats) {
      const e = this.entries.get(s.uid);
      // A span known here already keeps its start; the grace ends without counting a flap.
      if (e?.endedAt !== undefined) this.endGrace(s.uid, e, false);
      this.seat(s.uid, server, BigInt(s.time), BigInt(s.since), s.rid);
    }
  }

  /** The Presence method: each uid with a session, its newest session's room and server. */
  query(uids: readonly string[]): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const uid of new Set(uids)) {
      const p = this.entry(uid, this.entries.get(uid));
      if (p) out.push(p);
    }
    return out.sort((x, y) => compareUtf8(x.uid, y.uid));
  }

  /** The Presence method by room: every uid whose newest session is in rid. */
  room(rid: string): PresenceEntry[] {
    const out: PresenceEntry[] = [];
    for (const [uid, s] of this.sessions) {
      if (s.rid !== rid) continue;
      const p = this.entry(uid, this.entries.get(uid));
      if (p?.rid === rid) out.push(p);
    }
    for (const [uid, e] of this.entries) {
      if (e.seats.length === 0 || this.sessions.has(uid)) continue; // those with one here: above
      const p = this.entry(uid, e);
      if (p?.rid === rid) out.push(p);
    }
    return out.sort((x, y) => compareUtf8(x.uid, y.uid));
  }

  /** uid's newest session (here or elsewhere) and its span's start; undefined when it has none. */
  private entry(uid: string, e: Entry | undefined): PresenceEntry | undefined {
    const here = this.sessions.get(uid);
    let rid = "";
    let server = "";
    let newest = -1n;
    if (here) {
      rid = here.rid;
      server = this.servers.self;
      newest = sinceOf(here);
    }
    if (e) {
      for (const s of e.seats) {
        if (s.time > newest) {
          newest = s.time;
          rid = s.rid;
          server = s.server;
        }
      }
    }
    if (newest < 0n) return undefined;
    const since = e?.since ?? newest;
    return { uid, rid, server, since: String(since) };
  }

  /** Stops the timers; nothing is emitted after this (the other instances take over what was in its grace). */
  close(): void {
    this.closed = true;
    this.grace.close();
  }

  /** A uid's grace ran out: its OFFLINE, unless a session came back meanwhile. */
  private graceOver(uid: string): void {
    const e = this.entries.get(uid);
    if (!e || e.seats.length > 0 || e.endedAt === undefined || this.sessions.has(uid)) return;
    this.entries.delete(uid);
    if (this.emitsFor(e.owner as string)) this.emit("OFFLINE", uid, "", String(e.endedAt), String(e.since));
  }

  /** The last session's instance emits; when it is gone, the smallest live server id does. */
  private emitsFor(owner: string): boolean {
    const { self } = this.servers;
    if (owner === self) return true;
    if (this.servers.isLive(owner)) return false;
    return this.servers.live()[0] === self;
  }

  /** Times in ns as decimal strings, as a transition carries them. */
  private emit(type: PresenceType, uid: string, rid: string, time: string, since: string): void {
    this.options.emit({ type, uid, rid, server: this.servers.self, time, since });
  }
}
