/**
 * Owns every open connection: admits new ones (max_connections), runs the one periodic sweep that
 * drives heartbeats, auth timeouts and token expiry, and records how each connection ended.
 */
import type { Verify } from "../auth/jwt.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Session } from "../hub/session.ts";
import type { Metrics } from "../metrics/registry.ts";
import type { Logger } from "../log.ts";
import { Close, closeLabel } from "../protocol/codes.ts";
import { NEVER } from "../protocol/compressible.ts";
import type { PushSocket } from "../runtime/types.ts";
import { type Admission, Admitter, type ConnectInfo } from "./admission.ts";
import { Capacity } from "./capacity.ts";
import { Connection, type SweepLimits } from "./connection.ts";
import { LinkedSet } from "./list.ts";

/** Connects and closes in one wave after which a full collection is worth its pause. */
export const SETTLE_AFTER = 1000;

export class Gateway {
  readonly connections = new LinkedSet<Connection>();
  readonly admitter: Admitter;
  /** limits.max_connections as it applies here (a restart key, so read once). */
  readonly capacity: Capacity;
  /** comet_uplink_frames_total: valid frames by MsgType (HB, AUTH, JOIN), and invalid ones. */
  readonly uplinkFrames: { readonly byType: ReadonlyArray<{ inc(): void }>; readonly invalid: { inc(): void } };
  /**
   * websocket.compression_min_bytes when compression is on, else NEVER: what a session's own
   * frames are measured against (a restart key, so read once).
   */
  readonly compressMinBytes: number;
  /** Set once a graceful shutdown starts: new upgrades are refused 503. */
  draining = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Connects and closes since the last settle, and that count at the last sweep. */
  private churn = 0;
  private churnSeen = 0;

  constructor(
    private current: Config,
    readonly hub: Hub,
    private verifier: Verify,
    readonly metrics: Metrics,
    readonly log: Logger,
    /**
     * The runtime's full collection, run once a wave of connects or closes is over. Each handshake
     * and AUTH leaves garbage, and JavaScriptCore collects when the heap grows, not when it idles:
     * without this, a server that took 19,000 connections holds their garbage (about 0.15 KiB a
     * connection) until traffic makes it collect. The pause was 48 ms at 19,000 sessions here, once.
     */
    private readonly collectGarbage?: () => void,
  ) {
    this.admitter = new Admitter(current);
    this.capacity = Capacity.of(current.limits.max_connections);
    const ws = current.websocket;
    this.compressMinBytes = ws.compression === "on" ? ws.compression_min_bytes : NEVER;
    this.uplinkFrames = {
      byType: ["HB", "AUTH", "JOIN"].map((type) => metrics.uplinks.with({ type })),
      invalid: metrics.uplinks.with({ type: "invalid" }),
    };
  }

  get config(): Config {
    return this.current;
  }

  get verify(): Verify {
    return this.verifier;
  }

  /**
   * A reload's new keys (and the config that names them): every AUTH from now on, a live session's
   * re-AUTH included, is verified with them. A session already live is not asked again: its token
   * was good when it was shown, and dropping it would be the outage a reload is there to avoid.
   */
  rekey(config: Config, verify: Verify): void {
    this.current = config;
    this.verifier = verify;
  }

  /**
   * Decides on a new subscription before any socket exists: draining, Origin, connect rate.
   * Answers the client address to open it with, or why not (each transport maps the reason).
   */
  admit(info: ConnectInfo): Admission {
    const a: Admission = this.draining
      ? { ok: false, refusal: { reason: "draining", detail: "server shutting down: connect to another instance" } }
      : this.admitter.admit(info, Date.now());
    if (!a.ok) this.metrics.rejected.inc({ reason: a.refusal.reason });
    return a;
  }

  /** A new socket of an admitted client; its Connection, or undefined when refused (and closed 4503). */
  open(socket: PushSocket, ip: string): Connection | undefined {
    if (!this.capacity.fits(this.connections.size)) {
      this.metrics.rejected.inc({ reason: "max_connections" });
      socket.close(Close.Overloaded, "too many connections");
      return undefined;
    }
    const c = new Connection(socket, this, ip);
    this.connections.add(c);
    this.capacity.opened(this.connections.size);
    this.churn++;
    this.metrics.connects.inc();
    return c;
  }

  /** Called once per connection when it ends, whoever ended it. */
  closed(c: Connection, code: number, reason: string, session: Session | null): void {
    this.connections.delete(c);
    this.capacity.closed(this.connections.size);
    this.churn++;
    this.metrics.disconnects.inc({ code: closeLabel(code) });
    if (session || this.log.enabled("debug")) {
      this.log.info("connection closed", {
        uid: session?.uid,
        rid: session?.rid || undefined,
        code,
        reason,
        duration_ms: Date.now() - c.openedAtMs,
        ip: c.ip,
      });
    }
  }

  /** One sweep every quarter heartbeat interval (and quarter auth timeout), at most a second apart. */
  start(): void {
    const every = Math.max(
      5,
      Math.min(1000, Math.floor(this.config.heartbeat.interval / 4), Math.floor(this.config.auth.timeout / 4)),
    );
    this.timer = setInterval(() => this.sweep(Date.now()), every);
  }

  sweep(now: number): void {
    const { auth, heartbeat } = this.config;
    const limits: SweepLimits = {
      authTimeout: auth.timeout,
      clockTolerance: auth.jwt.clock_tolerance,
      interval: heartbeat.interval,
    };
    this.connections.forEach((c) => {
      c.sweep(now, limits);
    });
    this.admitter.sweep(now);
    this.hub.history.sweep(now);
    this.settle();
  }

  /** After a wave of SETTLE_AFTER connects and closes, at the first sweep that sees none: one collection. */
  private settle(): void {
    if (this.churn !== this.churnSeen) {
      this.churnSeen = this.churn;
      return;
    }
    if (this.churn < SETTLE_AFTER || !this.collectGarbage) return;
    this.churn = 0;
    this.churnSeen = 0;
    this.collectGarbage();
    this.metrics.settles.inc();
  }

  /**
   * Graceful drain: connections that have not authenticated are closed 1001 at once; sessions are
   * closed 1001 spread evenly over `ms`, so that a fleet of clients does not reconnect elsewhere
   * in the same second. Resolves when the last one is closed.
   */
  async drain(ms: number): Promise<void> {
    this.draining = true;
    for (const c of this.connections) if (!c.live) c.close(Close.GoingAway, "server shutting down");
    const live = [...this.connections];
    if (live.length === 0) return;
    const start = Date.now();
    const step = Math.max(5, Math.min(100, ms / live.length));
    let next = 0;
    await new Promise<void>((resolve) => {
      const tick = () => {
        const due = ms <= 0 ? live.length : Math.min(live.length, Math.ceil((live.length * (Date.now() - start)) / ms));
        while (next < due) (live[next++] as Connection).close(Close.GoingAway, "server shutting down");
        if (next >= live.length) resolve();
        else setTimeout(tick, step);
      };
      setTimeout(tick, step);
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
