/**
 * The narrow seam between a Connection and the instance it lives in: what the gateway gives each
 * connection (so a connection never sees the gateway), and what the gateway's sweep hands it.
 */
import type { Identity } from "../auth/jwt.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Session } from "../hub/session.ts";
import type { Logger } from "../log.ts";
import type { LogStart } from "./holding.ts";
import type { GatewayCounters } from "./metrics.ts";

/**
 * What a connection (C: gateway/connection.ts) needs of its instance, and no more: the hub calls of a session's life, the
 * current config and keys, its counters, and whom to tell that it went live or ended.
 */
export interface ConnectionContext<C> {
  readonly hub: Pick<Hub, "login" | "logout" | "join" | "heard" | "recover" | "startPositions" | "positionsOf">;
  /** The config now: a reload replaces it (limits.uplink_rate is read per frame). */
  readonly config: Config;
  /** Verifies a token with the keys of now (a reload can rotate them). */
  verify(token: string): Promise<Identity>;
  /** Whether a verified token of uid issued at iatMs was revoked since (an operator's Disconnect). */
  revoked(uid: string, iatMs: number | undefined): boolean;
  /** websocket.compression_min_bytes when compression is on, else NEVER. */
  readonly compressMinBytes: number;
  readonly counters: Pick<GatewayCounters, "uplinkFrames" | "authFailures" | "heartbeatTimeouts">;
  readonly log: Logger;
  /**
   * With the shared log (history.store: redis): a recover and an HTTP stream's first positions are
   * read from it (asynchronously); else the hub answers both at once.
   */
  readonly logStart?: LogStart;
  /** Once, when its AUTH is verified and the session starts. */
  wentLive(c: C): void;
  /** Once, when it ends, whoever ended it; with the session it had, if it went live. */
  closed(c: C, code: number, reason: string, session: Session | null): void;
}

/** The config a sweep reads, read once per sweep rather than once per connection. */
export interface SweepLimits {
  authTimeout: number;
  clockTolerance: number;
  interval: number;
}
