/**
 * Owns every open connection: the one way a socket of any transport becomes a session (connect),
 * the one periodic sweep that drives heartbeats, auth timeouts and token expiry, and the record of
 * how each connection ended.
 */
import type { Verify } from "../auth/jwt.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Session } from "../hub/session.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import { Close, closeLabel } from "../protocol/codes.ts";
import { NEVER } from "../protocol/compressible.ts";
import type { PushSocket, SocketEvents, Transport } from "../runtime/types.ts";
import { type Admission, Admitter, type ConnectInfo, type Refusal } from "./admission.ts";
import { Capacity } from "./capacity.ts";
import { Connection } from "./connection.ts";
import type { ConnectionContext, SweepLimits } from "./context.ts";
import type { LogStart } from "./holding.ts";
import { LinkedSet } from "./list.ts";
import {
  emptyTransportCounts,
  type GatewayCounters,
  gatewayCounters,
  registerGatewayGauges,
  type TransportCounts,
} from "./metrics.ts";

/** Connects and closes in one wave after which a full collection is worth its pause. */
export const SETTLE_AFTER = 1000;

/**
 * A socket's client: what its transport read of it (admitted here), or the address admission let
 * in before the socket existed (a WebSocket is admitted at its upgrade, where a refusal is an HTTP
 * status).
 */
export type Client = ConnectInfo | { readonly admitted: string };

/**
 * What connect answers: the events the transport reports its socket's life to, or a refusal for the
 * transport to answer in its own terms. `refusal` is absent when the socket was refused after it
 * existed (limits.max_connections): it is closed 4503 already, which every transport maps.
 */
export type Connected = { ok: true; events: SocketEvents } | { ok: false; refusal?: Refusal };

/** What a gateway is made with. */
export interface GatewayOptions {
  config: Config;
  hub: Hub;
  verify: Verify;
  /** Tokens an operator revoked (auth/revocations.ts); none when not given. */
  revoked?: (uid: string, iatMs: number | undefined) => boolean;
  registry: Registry;
  log: Logger;
  /**
   * The runtime's full collection, run once a wave of connects or closes is over. Each handshake
   * and AUTH leaves garbage, and JavaScriptCore collects when the heap grows, not when it idles:
   * without this, a server that took 19,000 connections holds their garbage (about 0.15 KiB a
   * connection) until traffic makes it collect. The pause was 48 ms at 19,000 sessions here, once.
   */
  collectGarbage?: () => void;
}

export class Gateway {
  readonly connections = new LinkedSet<Connection>();
  readonly admitter: Admitter;
  /** limits.max_connections as it applies here (a restart key, so read once). */
  readonly capacity: Capacity;
  readonly hub: Hub;
  readonly log: Logger;
  /** Open connections and live sessions by transport (comet_connections_by_transport). */
  readonly byTransport: TransportCounts = emptyTransportCounts();
  private readonly counters: GatewayCounters;
  /** What every Connection is given: the few parts of the instance a session's life needs. */
  private readonly context: ConnectionContext<Connection>;
  private current: Config;
  private verifier: Verify;
  private logStart: LogStart | undefined;
  private readonly collectGarbage?: () => void;
  /** Set once a graceful shutdown starts: new upgrades are refused 503. */
  draining = false;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** Connects and closes since the last settle, and that count at the last sweep. */
  private churn = 0;
  private churnSeen = 0;

  constructor(opts: GatewayOptions) {
    this.current = opts.config;
    this.hub = opts.hub;
    this.verifier = opts.verify;
    this.log = opts.log;
    this.collectGarbage = opts.collectGarbage;
    this.admitter = new Admitter(opts.config);
    this.capacity = Capacity.of(opts.config.limits.max_connections);
    this.counters = gatewayCounters(opts.registry);
    registerGatewayGauges(opts.registry, () => this.connections.size, () => this.capacity.max, this.byTransport);
    const ws = opts.config.websocket;
    const gateway = this;
    this.context = {
      hub: opts.hub,
      get config() {
        return gateway.current;
      },
      verify: (token) => gateway.verifier(token),
      revoked: opts.revoked ?? (() => false),
      // A restart key, so read once.
      compressMinBytes: ws.compression === "on" ? ws.compression_min_bytes : NEVER,
      counters: this.counters,
      log: opts.log,
      get logStart() {
        return gateway.logStart;
      },
      wentLive: (c) => {
        this.byTransport[c.transport].sessions++;
      },
      // Looked up at each call: the Deno test harness wraps closed() to see connections end.
      closed: (c, code, reason, session) => gateway.closed(c, code, reason, session),
    };
  }

  get config(): Config {
    return this.current;
  }

  /** history.store: redis: sessions start and recover from the shared log (src/shared-log/log-recovery.ts). */
  startFromLog(start: LogStart): void {
    this.logStart = start;
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
    if (!a.ok) this.counters.rejected.inc({ reason: a.refusal.reason });
    return a;
  }

  /**
   * The one way a socket of any transport (WebSocket, gRPC stream, SSE or NDJSON stream) becomes a
   * connection: admission (unless done at the upgrade), limits.max_connections, the connection and
   * its bookkeeping. The socket learns of its events here (PushSocket.bind); the transport reports
   * its socket's life to what this answers.
   */
  connect(socket: PushSocket, client: Client): Connected {
    let ip: string;
    if ("admitted" in client) ip = client.admitted;
    else {
      const a = this.admit(client);
      if (!a.ok) return a;
      ip = a.ip;
    }
    if (!this.capacity.fits(this.connections.size)) {
      this.counters.rejected.inc({ reason: "max_connections" });
      socket.close(Close.Overloaded, "too many connections");
      return { ok: false };
    }
    const c = new Connection(socket, this.context, ip);
    this.connections.add(c);
    this.capacity.opened(this.connections.size);
    this.byTransport[c.transport].connections++;
    this.churn++;
    this.counters.connects.inc();
    socket.bind?.(c);
    return { ok: true, events: c };
  }

  /** Called once per connection when it ends, whoever ended it; `session` is the one it had, if it went live. */
  closed(c: Connection, code: number, reason: string, session: Session | null): void {
    this.connections.delete(c);
    this.capacity.closed(this.connections.size);
    const counts = this.byTransport[c.transport];
    counts.connections--;
    if (session) counts.sessions--;
    this.churn++;
    this.counters.disconnects.inc({ code: closeLabel(code) });
    if (session || this.log.enabled("debug")) {
      this.log.info("connection closed", {
        uid: session?.uid,
        rid: session?.rid || undefined,
        code,
        reason,
        duration_ms: Date.now() - c.openedAt,
        ip: c.ip,
      });
    }
  }

  /**
   * Ends every connection of one transport with a close code (a transport that stops without a
   * drain: a runtime waits for the HTTP streams it still answers). Answers how many it ended.
   */
  closeTransport(transport: Transport, code: number, reason: string): number {
    const ending: Connection[] = [];
    this.connections.forEach((c) => {
      if (c.transport === transport) ending.push(c);
    });
    for (const c of ending) c.close(code, reason);
    return ending.length;
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
    this.counters.settles.inc();
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
