/**
 * Owns every open connection: admits new ones (max_connections), runs the one periodic sweep that
 * drives heartbeats, auth timeouts and token expiry, and records how each connection ended.
 */
import type { Verify } from "../auth/jwt.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Session } from "../hub/session.ts";
import type { Metrics } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { Close } from "../protocol/codes.ts";
import type { PushSocket } from "../runtime/types.ts";
import { Connection } from "./connection.ts";
import { LinkedSet } from "./list.ts";

export class Gateway {
  readonly connections = new LinkedSet<Connection>();
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(
    readonly config: Config,
    readonly hub: Hub,
    readonly verify: Verify,
    readonly metrics: Metrics,
    readonly log: Logger,
  ) {}

  /** A new socket; returns its Connection, or undefined when it was refused (and closed). */
  open(socket: PushSocket, ip: string): Connection | undefined {
    const max = this.config.limits.max_connections;
    if (max > 0 && this.connections.size >= max) {
      this.metrics.rejected.inc({ reason: "max_connections" });
      socket.close(Close.Overloaded, "too many connections");
      return undefined;
    }
    const c = new Connection(socket, this, ip);
    this.connections.add(c);
    this.metrics.connects.inc();
    return c;
  }

  /** Called once per connection when it ends, whoever ended it. */
  closed(c: Connection, code: number, reason: string, session: Session | null): void {
    this.connections.delete(c);
    this.metrics.disconnects.inc({ code: String(code) });
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
    for (const c of this.connections) c.sweep(now);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
