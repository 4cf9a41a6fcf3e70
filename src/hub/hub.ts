/**
 * The only owner of state: uid → session, rid → room, the world. Answers "who gets this frame",
 * numbers each stream and keeps its history (history.ts), and emits user activity. Room and world
 * fan-out go through topics, so on Bun a broadcast leaves native code once per recipient with no
 * JavaScript per recipient.
 *
 * Each session is subscribed to exactly one topic: its room's, or the lobby's while it is in no
 * room. A world broadcast is published to the lobby and to every room. (A world topic on top
 * would cost a second native subscription, ~100 bytes, on every connection.) Sessions that asked
 * for positions are in a twin topic (`rp:<rid>`, `rp:` for the lobby) that gets the positioned
 * frame: a broadcast is encoded at most once per variant and wire format, and the variant nobody
 * holds is neither made nor published.
 */
import { Close } from "../protocol/codes.ts";
import type { Delivery } from "../protocol/commands.ts";
import { Downlink } from "../protocol/downlink.ts";
import type { Recover } from "../protocol/frames.ts";
import type { Fanout } from "../runtime/types.ts";
import { type ActivityName, nowUs } from "./activity.ts";
import { ActivityListeners, type HubActivityListener, type ListenerOptions } from "./listeners.ts";
import { assembleDump, sessionViews } from "./dump.ts";
import { headsOf, recoverStreams } from "./recovery.ts";
import { History } from "./history.ts";
import { type Dump, Session, type SessionLink, type SessionView } from "./session.ts";
import { LOBBY_POSITIONS_TOPIC, LOBBY_TOPIC, positionsTopic, roomTopic } from "./topics.ts";
import { DEFAULT_HISTORY, type HubOptions, type HubStats, type Room } from "./types.ts";
import { UidTable } from "./uid-table.ts";

export { DEFAULT_HISTORY, type HubOptions, type HubStats, type Room } from "./types.ts";
export type { HubActivityListener } from "./listeners.ts";

export class Hub {
  readonly sessions = new UidTable<Session>();
  readonly rooms = new Map<string, Room>();
  readonly stats: HubStats = { pushesDelivered: 0, pushesUnrouted: 0 };
  readonly history: History;
  /** Sessions in some room (the others are in the lobby). */
  private inRooms = 0;
  /** Sessions with positions, anywhere; and those of them in the lobby. */
  private withPositions = 0;
  private lobbyPositions = 0;
  private readonly listeners = new ActivityListeners();
  /** One per transport with topics of its own (Bun's native topics, a loop for gRPC or Deno). */
  private readonly fanouts: Fanout[] = [];

  constructor(opts: HubOptions = {}) {
    this.history = new History(opts.history ?? DEFAULT_HISTORY);
    if (opts.fanouts) this.fanouts.push(...opts.fanouts);
  }

  /** A transport's fan-out, attached once it listens (no session can exist on it before). */
  addFanout(f: Fanout): void {
    this.fanouts.push(f);
  }

  private publishTopic(topic: string, frame: Downlink): void {
    for (let i = 0; i < this.fanouts.length; i++) (this.fanouts[i] as Fanout).publish(topic, frame);
  }

  /** See listeners.ts: `last` stays after later listeners; `heard: false` never gets HEARD; `only` these types. */
  onActivity(listener: HubActivityListener, opts: ListenerOptions = {}): () => void {
    return this.listeners.add(listener, opts);
  }

  private emit(type: ActivityName, s: Session, rid: string, time?: string): void {
    this.listeners.emit(type, s, rid, time);
  }

  /**
   * Starts a session for uid. An existing session for the same uid loses: it is closed 4409 and
   * its LEAVE_ROOM/OFFLINE are emitted before this session's ONLINE. `positions`: every PUSH it
   * gets carries its position. `rid`: the room its AUTH joins, entered straight away (ONLINE, then
   * ENTER_ROOM), without a subscription to the lobby to undo at once.
   */
  login(uid: string, link: SessionLink, positions = false, rid = ""): Session {
    const old = this.sessions.get(uid);
    if (old) {
      this.end(old);
      old.link.kick(Close.Replaced, "replaced by a newer session of the same uid");
    }
    const now = Date.now();
    const s = new Session(uid, nowUs(), link, this.history.reclaimUser(uid, now));
    this.sessions.set(uid, s);
    if (positions) {
      s.positions = true;
      this.withPositions++;
    }
    if (rid === "") this.enterLobby(s);
    this.emit("ONLINE", s, "", `${s.onlineUs}000`);
    if (rid !== "") this.enterRoom(s, rid);
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
    s.link.unsubscribe(this.leave(s));
    if (s.positions) this.withPositions--;
    this.sessions.delete(s.uid);
    // The user's stream outlives the session by history.ttl, made now if nothing was published to
    // it yet: what is published while the user is away is kept for its return.
    const now = Date.now();
    this.history.release(s.stream ?? this.history.holdUser(s.uid, now), now);
    this.emit("OFFLINE", s, "");
    // An ended session is in no room, but the line that logs its end names the room it was in.
    s.rid = rid;
  }

  /** JOIN: the same room is a no-op; another room leaves the last one; "" leaves any room. */
  join(s: Session, rid: string): void {
    if (s.rid === rid) return;
    s.link.unsubscribe(this.leave(s));
    if (rid === "") this.enterLobby(s);
    else this.enterRoom(s, rid);
  }

  private enterRoom(s: Session, rid: string): void {
    let room = this.rooms.get(rid);
    if (!room) {
      const stream = this.history.holdRoom(rid, Date.now());
      room = { rid, topic: roomTopic(rid), ptopic: positionsTopic(rid), stream, size: 0, psize: 0 };
      this.rooms.set(rid, room);
    }
    room.size++;
    if (s.positions) room.psize++;
    this.inRooms++;
    s.rid = room.rid;
    s.link.subscribe(s.positions ? room.ptopic : room.topic);
    this.emit("ENTER_ROOM", s, room.rid);
  }

  /** From now on every PUSH of s carries its position (a re-AUTH or a JOIN asked for it). */
  startPositions(s: Session): void {
    if (s.positions || this.sessions.get(s.uid) !== s) return;
    const room = s.rid === "" ? undefined : this.rooms.get(s.rid);
    s.link.unsubscribe(room ? room.topic : LOBBY_TOPIC);
    s.positions = true;
    this.withPositions++;
    if (room) room.psize++;
    else this.lobbyPositions++;
    s.link.subscribe(room ? room.ptopic : LOBBY_POSITIONS_TOPIC);
  }

  private enterLobby(s: Session): void {
    if (s.positions) this.lobbyPositions++;
    s.link.subscribe(s.positions ? LOBBY_POSITIONS_TOPIC : LOBBY_TOPIC);
  }

  /** Takes the session out of its room (LEAVE_ROOM) or the lobby; returns the topic it was in. */
  private leave(s: Session): string {
    const rid = s.rid;
    if (rid === "") {
      if (!s.positions) return LOBBY_TOPIC;
      this.lobbyPositions--;
      return LOBBY_POSITIONS_TOPIC;
    }
    const room = this.rooms.get(rid);
    if (room) {
      room.size--;
      if (s.positions) room.psize--;
      if (room.size === 0) {
        this.rooms.delete(rid);
        this.history.release(room.stream, Date.now());
      }
    }
    this.inRooms--;
    s.rid = "";
    this.emit("LEAVE_ROOM", s, rid);
    if (room) return s.positions ? room.ptopic : room.topic;
    return s.positions ? positionsTopic(rid) : roomTopic(rid);
  }

  /**
   * Where s stands now in each of its streams (the last number of each): an HTTP stream's first
   * event id, so that a reconnect from it misses nothing that came after the session started.
   */
  positionsOf(s: Session): Recover {
    return headsOf(this.history, s, s.rid === "" ? undefined : this.rooms.get(s.rid)?.stream);
  }

  /**
   * A `recover` of s, right after the AUTH or JOIN that carried it (recovery.ts): what followed the
   * client's position in each stream it names, then one HB with each stream's outcome.
   */
  recover(s: Session, r: Recover): void {
    const room = s.rid === "" ? undefined : this.rooms.get(s.rid);
    recoverStreams(this.history, s, { u: s.stream ?? undefined, r: room?.stream, w: this.history.world }, r);
  }

  /** Any uplink from a live session. */
  heard(s: Session): void {
    if (this.listeners.wantHeard) this.emit("HEARD", s, s.rid);
  }

  /**
   * Every publication, whatever way it came in (HTTP, gRPC, MQTT), reaches sessions through here.
   * Returns the number of recipients on this instance.
   */
  deliver(d: Delivery): number {
    return d.kind === "publish" ? this.publish(d.uid, d.evt) : this.broadcast(d.rid, d.evt);
  }

  /**
   * Publish to one user on this instance. Returns the number of recipients (0 or 1). A user whose
   * stream outlives its session (history.ttl) keeps what is published meanwhile.
   */
  publish(uid: string, evt: string): number {
    const now = Date.now();
    const s = this.sessions.get(uid);
    if (!s) {
      const stream = this.history.user(uid, now);
      if (stream) this.history.append(stream, evt, now);
      this.stats.pushesUnrouted++;
      return 0;
    }
    s.stream ??= this.history.holdUser(uid, now);
    const seq = this.history.append(s.stream, evt, now);
    s.link.send(s.positions ? Downlink.pushAt(evt, "u", seq, s.stream.epoch) : Downlink.push(evt));
    this.stats.pushesDelivered++;
    return 1;
  }

  /** Broadcast to a room, or to the world when rid is "". Returns the number of recipients. */
  broadcast(rid: string, evt: string): number {
    const now = Date.now();
    if (rid !== "") {
      const room = this.rooms.get(rid);
      if (!room) {
        const stream = this.history.room(rid, now);
        if (stream) this.history.append(stream, evt, now);
        this.stats.pushesUnrouted++;
        return 0;
      }
      const { stream } = room;
      return this.toRoom(room, evt, this.history.append(stream, evt, now), stream.epoch);
    }
    // The world's stream lives always: a broadcast is numbered and kept even with no one here.
    const world = this.history.world;
    return this.toWorld(evt, this.history.append(world, evt, now), world.epoch);
  }

  /**
   * A publication already numbered by the shared log (history.store: redis): delivered here at
   * that position, numbered and kept by nobody here (the log keeps it). The caller delivers a
   * stream's positions in order (src/shared-log/stream-order.ts).
   */
  deliverAt(d: Delivery, seq: number, epoch: string): number {
    if (d.kind === "publish") {
      const s = this.sessions.get(d.uid);
      if (!s) {
        this.stats.pushesUnrouted++;
        return 0;
      }
      s.link.send(s.positions ? Downlink.pushAt(d.evt, "u", seq, epoch) : Downlink.push(d.evt));
      this.stats.pushesDelivered++;
      return 1;
    }
    if (d.rid === "") return this.toWorld(d.evt, seq, epoch);
    const room = this.rooms.get(d.rid);
    if (room) return this.toRoom(room, d.evt, seq, epoch);
    this.stats.pushesUnrouted++;
    return 0;
  }

  /** The sessions here a delivery would reach now (its user, its room's members, everyone). */
  reach(d: Delivery): number {
    if (d.kind === "publish") return this.sessions.has(d.uid) ? 1 : 0;
    return d.rid === "" ? this.sessions.size : (this.rooms.get(d.rid)?.size ?? 0);
  }

  private toRoom(room: Room, evt: string, seq: number, epoch: string): number {
    if (room.size > room.psize) this.publishTopic(room.topic, Downlink.push(evt));
    if (room.psize > 0) this.publishTopic(room.ptopic, Downlink.pushAt(evt, room.stream.name, seq, epoch));
    this.stats.pushesDelivered += room.size;
    return room.size;
  }

  private toWorld(evt: string, seq: number, epoch: string): number {
    const n = this.sessions.size;
    if (n === 0) {
      this.stats.pushesUnrouted++;
      return 0;
    }
    // One number, and at most one frame of each variant, however many topics carry it.
    const plain = n > this.withPositions ? Downlink.push(evt) : undefined;
    const positioned = this.withPositions > 0 ? Downlink.pushAt(evt, "w", seq, epoch) : undefined;
    const lobby = n - this.inRooms;
    if (plain && lobby > this.lobbyPositions) this.publishTopic(LOBBY_TOPIC, plain);
    if (positioned && this.lobbyPositions > 0) this.publishTopic(LOBBY_POSITIONS_TOPIC, positioned);
    for (const room of this.rooms.values()) {
      if (plain && room.size > room.psize) this.publishTopic(room.topic, plain);
      if (positioned && room.psize > 0) this.publishTopic(room.ptopic, positioned);
    }
    this.stats.pushesDelivered += n;
    return n;
  }

  /** DumpSession; `withTransport` adds each session's transport (not in the spec's Session). */
  dump(withTransport = false): Dump {
    return assembleDump(this.views(withTransport));
  }

  /** Every session here, unsorted: a DumpSession's material (the cluster's gather sends these). */
  views(withTransport = false): SessionView[] {
    return sessionViews(this.sessions.values(), this.sessions.size, withTransport);
  }
}
