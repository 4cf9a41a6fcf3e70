/**
 * The only owner of state: uid → session, rid → room, the world. Answers "who gets this frame"
 * and emits user activity. Room and world fan-out go through topics, so on Bun a broadcast leaves
 * native code once per recipient with no JavaScript per recipient.
 *
 * Each session is subscribed to exactly one topic: its room's, or the lobby's while it is in no
 * room. A world broadcast is published to the lobby and to every room. (A world topic on top
 * would cost a second native subscription, ~100 bytes, on every connection.)
 */
import { Close } from "../protocol/codes.ts";
import type { Delivery } from "../protocol/commands.ts";
import { Downlink } from "../protocol/downlink.ts";
import type { Fanout } from "../runtime/types.ts";
import { type Activity, type ActivityListener, type ActivityName, nowNs } from "./activity.ts";
import { assembleDump } from "./dump.ts";
import { type Dump, Session, type SessionLink, type SessionView } from "./session.ts";

export const roomTopic = (rid: string): string => `r:${rid}`;
/** The topic of the sessions in no room. */
export const LOBBY_TOPIC = roomTopic("");

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
  size: number;
}

export class Hub {
  readonly sessions = new Map<string, Session>();
  readonly rooms = new Map<string, Room>();
  readonly stats: HubStats = { pushesDelivered: 0, pushesUnrouted: 0 };
  /** Sessions in some room (the others are in the lobby). */
  private inRooms = 0;
  private readonly listeners: ActivityListener[] = [];
  /** One per transport with topics of its own (Bun's native topics, a loop for gRPC or Deno). */
  private readonly fanouts: Fanout[] = [];

  constructor(...fanouts: Fanout[]) {
    this.fanouts.push(...fanouts);
  }

  /** A transport's fan-out, attached once it listens (no session can exist on it before). */
  addFanout(f: Fanout): void {
    this.fanouts.push(f);
  }

  private publishTopic(topic: string, frame: Downlink): void {
    for (let i = 0; i < this.fanouts.length; i++) (this.fanouts[i] as Fanout).publish(topic, frame);
  }

  onActivity(listener: ActivityListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private emit(type: ActivityName, uid: string, rid: string): void {
    if (this.listeners.length === 0) return;
    const a: Activity = { type, uid, rid, time: nowNs() };
    for (const l of this.listeners) l(a);
  }

  /**
   * Starts a session for uid. An existing session for the same uid loses: it is closed 4409 and
   * its LEAVE_ROOM/OFFLINE are emitted before this session's ONLINE.
   */
  login(uid: string, link: SessionLink): Session {
    const old = this.sessions.get(uid);
    if (old) {
      this.end(old);
      old.link.kick(Close.Replaced, "replaced by a newer session of the same uid");
    }
    const s = new Session(uid, Date.now(), link);
    this.sessions.set(uid, s);
    link.subscribe(LOBBY_TOPIC);
    this.emit("ONLINE", uid, "");
    return s;
  }

  /** Ends a session (its connection closed). A session already replaced is left alone. */
  logout(s: Session): void {
    if (this.sessions.get(s.uid) !== s) return;
    this.end(s);
  }

  /** Ends uid's session and closes its connection with code (the bridge's cluster rule). False when none is here. */
  kick(uid: string, code: number, reason: string): boolean {
    const s = this.sessions.get(uid);
    if (!s) return false;
    this.end(s);
    s.link.kick(code, reason);
    return true;
  }

  private end(s: Session): void {
    const rid = s.rid;
    const topic = this.leaveRoom(s);
    s.link.unsubscribe(topic);
    this.sessions.delete(s.uid);
    this.emit("OFFLINE", s.uid, "");
    // An ended session is in no room, but the line that logs its end names the room it was in.
    s.rid = rid;
  }

  /** JOIN: the same room is a no-op; another room leaves the last one; "" leaves any room. */
  join(s: Session, rid: string): void {
    if (s.rid === rid) return;
    const from = this.leaveRoom(s);
    if (rid === "") {
      s.link.unsubscribe(from);
      s.link.subscribe(LOBBY_TOPIC);
      return;
    }
    let room = this.rooms.get(rid);
    if (room) room.size++;
    else {
      room = { rid, topic: roomTopic(rid), size: 1 };
      this.rooms.set(rid, room);
    }
    this.inRooms++;
    s.rid = room.rid;
    s.link.unsubscribe(from);
    s.link.subscribe(room.topic);
    this.emit("ENTER_ROOM", s.uid, room.rid);
  }

  /** Takes the session out of its room, if any (LEAVE_ROOM); returns the topic it was in. */
  private leaveRoom(s: Session): string {
    const rid = s.rid;
    if (rid === "") return LOBBY_TOPIC;
    const room = this.rooms.get(rid);
    if (room && --room.size === 0) this.rooms.delete(rid);
    this.inRooms--;
    s.rid = "";
    this.emit("LEAVE_ROOM", s.uid, rid);
    return room?.topic ?? roomTopic(rid);
  }

  /** Any uplink from a live session. */
  heard(s: Session): void {
    if (this.listeners.length > 0) this.emit("HEARD", s.uid, s.rid);
  }

  /**
   * Every publication, whatever way it came in (HTTP, gRPC, MQTT), reaches sessions through here.
   * Returns the number of recipients on this instance.
   */
  deliver(d: Delivery): number {
    return d.kind === "publish" ? this.publish(d.uid, d.evt) : this.broadcast(d.rid, d.evt);
  }

  /** Publish to one user on this instance. Returns the number of recipients (0 or 1). */
  publish(uid: string, evt: string): number {
    const s = this.sessions.get(uid);
    if (!s) {
      this.stats.pushesUnrouted++;
      return 0;
    }
    s.link.send(Downlink.push(evt));
    this.stats.pushesDelivered++;
    return 1;
  }

  /** Broadcast to a room, or to the world when rid is "". Returns the number of recipients. */
  broadcast(rid: string, evt: string): number {
    if (rid !== "") {
      const room = this.rooms.get(rid);
      if (!room) {
        this.stats.pushesUnrouted++;
        return 0;
      }
      this.publishTopic(room.topic, Downlink.push(evt));
      this.stats.pushesDelivered += room.size;
      return room.size;
    }
    const n = this.sessions.size;
    if (n === 0) {
      this.stats.pushesUnrouted++;
      return 0;
    }
    const frame = Downlink.push(evt);
    if (n > this.inRooms) this.publishTopic(LOBBY_TOPIC, frame);
    for (const room of this.rooms.values()) this.publishTopic(room.topic, frame);
    this.stats.pushesDelivered += n;
    return n;
  }

  /** DumpSession; `withTransport` adds each session's transport (not in the spec's Session). */
  dump(withTransport = false): Dump {
    return assembleDump(this.views(withTransport));
  }

  /** Every session here, unsorted: a DumpSession's material (the cluster's gather sends these). */
  views(withTransport = false): SessionView[] {
    const out = new Array<SessionView>(this.sessions.size);
    let i = 0;
    for (const s of this.sessions.values()) {
      const v: SessionView = { uid: s.uid, rid: s.rid, birth: new Date(s.birth).toISOString() };
      if (withTransport) v.transport = s.link.transport;
      out[i++] = v;
    }
    return out;
  }
}
