/**
 * One object per socket: awaiting-auth → live → closed. Verifies the token, tracks the last uplink
 * for heartbeats, applies limits, and turns each uplink into a hub call. Frames are handled in the
 * order they arrive: while a token is being verified, later frames wait their turn.
 */
import { type Identity, AuthError } from "../auth/jwt.ts";
import type { RoomAccess } from "../auth/rooms.ts";
import type { Session, SessionLink } from "../hub/session.ts";
import { Close, clampReason } from "../protocol/codes.ts";
import { worthCompressing } from "../protocol/compressible.ts";
import { type Downlink, JSON_TEXT } from "../protocol/downlink.ts";
import { type Decoded, decodeUplink, MsgType, type Recover, type Uplink, utf8Text } from "../protocol/frames.ts";
import type { PushSocket, SocketEvents, Transport } from "../runtime/types.ts";
import type { ConnectionContext, SweepLimits } from "./context.ts";
import { checkHeartbeat, type HeartbeatState } from "./heartbeat.ts";
import { Holding, type LogStart } from "./holding.ts";
import { type BucketState, takeToken } from "./limits.ts";
import type { Listed } from "./list.ts";
import { positionsTopic } from "../hub/topics.ts";

const State = { AwaitingAuth: 0, Live: 1, Closed: 2 } as const;
type State = (typeof State)[keyof typeof State];

export class Connection implements SessionLink, SocketEvents, Listed<Connection>, BucketState, HeartbeatState {
  // The gateway's list of open connections (see list.ts).
  listPrev: Connection | null = null;
  listNext: Connection | null = null;
  listed = false;
  private state: State = State.AwaitingAuth;
  private session: Session | null = null;
  /** When the socket opened, ms since the epoch. */
  readonly openedAt: number;
  // The heartbeat (heartbeat.ts) and the uplink rate bucket (limits.ts), kept here rather than in objects of their own.
  lastUplink: number;
  lastProbe: number;
  sentSeen = 0;
  tokens: number;
  tokensAt: number;
  private expMs: number | undefined;
  private rooms: RoomAccess | undefined;
  /** Non-null while a token is verified (or a start from the log runs): frames that arrive meanwhile, in order. */
  private waiting: Array<string | Decoded> | null = null;
  /** While a start or recovery from the shared log runs: the live deliveries it holds. */
  private holding: Holding | null = null;

  constructor(
    readonly socket: PushSocket,
    private readonly ctx: ConnectionContext<Connection>,
    readonly ip: string,
  ) {
    const now = Date.now();
    this.openedAt = now;
    this.lastUplink = now;
    this.lastProbe = now;
    this.tokens = ctx.config.limits.uplink_rate * 2;
    this.tokensAt = now;
  }

  get uid(): string | undefined {
    return this.session?.uid;
  }

  get rid(): string | undefined {
    return this.session?.rid;
  }

  get transport(): Transport {
    return this.socket.transport ?? "websocket";
  }

  get live(): boolean {
    return this.state === State.Live;
  }

  /** An uplink frame from the transport (text, or binary holding UTF-8 JSON). */
  onMessage(data: string | Uint8Array): void {
    if (!this.countUplink()) return;
    const text = typeof data === "string" ? data : utf8Text(data);
    if (text === undefined) {
      this.close(Close.BadFrame, "binary frame is not UTF-8");
      return;
    }
    if (this.waiting) this.waiting.push(text);
    else this.handle(text);
  }

  /**
   * An uplink a transport decoded itself (gRPC reads a protobuf Uplink through readUplink): from
   * here on the same path as a text frame, so heartbeat, rate limit, ordering and every rule of
   * the wire contract (docs/protocol.md) hold alike on every transport.
   */
  onUplink(d: Decoded): void {
    if (!this.countUplink()) return;
    if (this.waiting) this.waiting.push(d);
    else this.handle(d);
  }

  /**
   * A WebSocket ping or pong: against the rate limit, so that a ping flood is cut like a frame flood, but
   * not for the heartbeat, which asks whether the client's code still runs: a WebSocket library
   * can keep pinging while the application above it is stuck.
   */
  onPing(): void {
    if (this.state !== State.Closed) this.withinRate(Date.now());
  }

  /** Every uplink counts for the heartbeat and against the rate limit, valid or not. */
  private countUplink(): boolean {
    if (this.state === State.Closed) return false;
    const now = Date.now();
    this.lastUplink = now;
    return this.withinRate(now);
  }

  /** Takes a token from the uplink bucket; when it is empty, closes 4429 and answers false. */
  private withinRate(now: number): boolean {
    if (takeToken(this, this.ctx.config.limits.uplink_rate, now)) return true;
    this.close(Close.RateLimited, "uplink rate limit exceeded");
    return false;
  }

  private handle(item: string | Decoded): void {
    const d = typeof item === "string" ? decodeUplink(item) : item;
    if (!d.ok) {
      this.ctx.counters.uplinkFrames.invalid.inc();
      this.close(d.error.code, d.error.reason);
      return;
    }
    const f = d.frame;
    this.ctx.counters.uplinkFrames.byType[f.t]?.inc();
    if (this.state === State.AwaitingAuth && f.t !== MsgType.AUTH) {
      this.close(Close.BadFrame, "the first frame must be AUTH");
      return;
    }
    if (this.session) this.ctx.hub.heard(this.session);
    switch (f.t) {
      case MsgType.HB:
        return;
      case MsgType.AUTH:
        this.auth(f);
        return;
      case MsgType.JOIN:
        this.join(f.rid, f.recover);
        return;
    }
  }

  private auth(f: Extract<Uplink, { t: typeof MsgType.AUTH }>): void {
    if (!f.token) {
      this.fail(new AuthError("token missing", "missing"));
      return;
    }
    this.waiting = [];
    this.ctx.verify(f.token).then(
      (id) => {
        if (this.state === State.Closed) return;
        if (this.ctx.revoked(id.uid, id.iatMs)) this.fail(new AuthError("token revoked", "revoked"));
        else this.authenticated(id, f);
        // A start from the log hands the waiting frames on when it ends.
        if (!this.holding) this.replayWaiting();
      },
      (err: unknown) => {
        if (this.state === State.Closed) return;
        this.waiting = null;
        this.fail(err instanceof AuthError ? err : new AuthError("token invalid", "invalid"));
      },
    );
  }

  /** Handles the frames that waited for a verification; stops where another verification starts. */
  private replayWaiting(): void {
    const pending = this.waiting;
    this.waiting = null;
    if (!pending) return;
    for (let i = 0; i < pending.length; i++) {
      if (this.state === State.Closed) return;
      if (this.waiting) {
        (this.waiting as Array<string | Decoded>).push(...pending.slice(i));
        return;
      }
      this.handle(pending[i] as string | Decoded);
    }
  }

  private fail(err: AuthError): void {
    this.ctx.counters.authFailures.inc({ reason: err.kind });
    this.close(Close.Unauthorized, err.reason);
  }

  /**
   * A verified AUTH. A `recover` is answered in the same tick as the login or JOIN it follows
   * (Hub.recover): what was published while the token was being verified is in the history, and
   * nothing new can be sent before the replay and its report.
   */
  private authenticated(id: Identity, f: Extract<Uplink, { t: typeof MsgType.AUTH }>): void {
    const { join, recover } = f;
    // A recover implies positions: what it replays carries them.
    const positions = f.positions === true || recover !== undefined;
    this.expMs = id.expMs;
    this.rooms = id.rooms;
    if (this.state === State.AwaitingAuth) {
      if (join && !id.rooms.allows(join)) {
        this.close(Close.Forbidden, "room not allowed");
        return;
      }
      this.state = State.Live;
      // With the shared log, the answers come later: the session's deliveries are held until then.
      const log = recover || this.socket.started ? this.ctx.logStart : undefined;
      if (log) this.holding = new Holding(log.held);
      const s = this.ctx.hub.login(id.uid, this, positions || this.socket.positions === true, join);
      this.session = s;
      this.ctx.wentLive(this);
      this.ctx.log.debug("session start", { uid: id.uid, ip: this.ip });
      if (log) this.fromLog(s, recover, true);
      else {
        // Before a recover's replay: an HTTP stream's opening bytes come first.
        this.socket.started?.(this.ctx.hub.positionsOf(s));
        if (recover) this.ctx.hub.recover(s, recover);
      }
      return;
    }
    const s = this.session as Session;
    if (id.uid !== s.uid) {
      this.close(Close.Forbidden, "re-AUTH with a different sub");
      return;
    }
    if (positions) this.ctx.hub.startPositions(s);
    if (join !== undefined) this.join(join, recover);
    else if (s.rid !== "" && !id.rooms.allows(s.rid)) this.close(Close.Forbidden, "room no longer allowed");
    else if (recover && this.ctx.logStart) this.fromLog(s, recover, false, positionsTopic(s.rid));
    else if (recover) this.ctx.hub.recover(s, recover);
  }

  /** With the shared log: its start or recovery holds the session's deliveries, and later frames wait, until it ends. */
  private fromLog(s: Session, recover: Recover | undefined, opening: boolean, heldTopic?: string): void {
    const start = this.ctx.logStart as LogStart;
    this.holding ??= new Holding(start.held);
    const holding = this.holding;
    this.waiting ??= [];
    holding.run(start, s, {
      socket: this.socket,
      steps: { recover, opening, heldTopic },
      send: (f) => this.sendNow(f),
      current: () => this.holding === holding && this.state === State.Live,
      done: () => {
        this.holding = null;
        this.replayWaiting();
      },
    });
  }

  private join(rid: string, recover: Recover | undefined): void {
    const s = this.session as Session;
    if (rid !== "" && !(this.rooms as RoomAccess).allows(rid)) {
      this.close(Close.Forbidden, "room not allowed");
      return;
    }
    if (recover) this.ctx.hub.startPositions(s);
    // With the shared log, the room's deliveries are held from the moment it is entered.
    if (recover && this.ctx.logStart) this.holding = new Holding(this.ctx.logStart.held);
    this.ctx.hub.join(s, rid);
    if (recover && this.ctx.logStart) this.fromLog(s, recover, false);
    else if (recover) this.ctx.hub.recover(s, recover);
  }

  /** Called by the gateway's periodic sweep: auth timeout, token expiry, heartbeat probe and timeout. */
  sweep(now: number, limits: SweepLimits): void {
    if (this.state === State.AwaitingAuth) {
      if (now - this.openedAt >= limits.authTimeout) this.close(Close.Timeout, "auth timeout");
      return;
    }
    if (this.state !== State.Live) return;
    if (this.expMs !== undefined && now > this.expMs + limits.clockTolerance) {
      this.close(Close.Unauthorized, "token expired");
      return;
    }
    if (checkHeartbeat(this, now, limits.interval, this.socket, this) === "timeout") {
      this.ctx.counters.heartbeatTimeouts.inc();
      this.close(Close.Timeout, "heartbeat timeout");
    }
  }

  /** The server ends this connection with a close code. */
  close(code: number, reason: string): void {
    if (this.state === State.Closed) return;
    this.finish(code, reason);
    this.socket.close(code, clampReason(reason));
  }

  /** The transport reports the socket gone (peer closed, network lost). */
  onClosed(code: number, reason: string): void {
    if (this.state === State.Closed) return;
    // No close frame: the network went, or the runtime terminated a slow consumer over
    // limits.max_send_buffer; Bun reports both alike.
    const lost = "connection lost without a close frame (network, or slow consumer)";
    this.finish(code, reason || (code === 1006 ? lost : ""));
  }

  private finish(code: number, reason: string): void {
    this.state = State.Closed;
    this.waiting = null;
    this.holding?.drop();
    const s = this.session;
    this.session = null;
    if (s) this.ctx.hub.logout(s);
    this.ctx.closed(this, code, reason, s);
  }

  // SessionLink: how the hub reaches this connection (through the holding while one runs).
  send(frame: Downlink): void {
    if (this.holding) this.holding.push(frame);
    else this.sendNow(frame);
  }
  private sendNow(frame: Downlink): void {
    const data = frame.encoded(this.socket.format ?? JSON_TEXT);
    this.socket.send(data, worthCompressing(data, this.ctx.compressMinBytes));
  }
  subscribe(topic: string): void {
    if (this.holding) this.holding.subscribe(topic);
    else this.socket.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    if (!this.holding?.unsubscribe(topic)) this.socket.unsubscribe(topic);
  }
  kick(code: number, reason: string): void {
    // The hub already ended the session. It stays here until finish(), for the line that logs its
    // end; hub.logout there leaves a session the hub has ended alone.
    this.close(code, reason);
  }
}
