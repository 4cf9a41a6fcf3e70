/**
 * Disconnect for the whole cluster (mqtt.forward_api), on the pattern of the cluster DumpSession
 * (gather.ts): a request on `comet/servers/<origin>/disconnect`, which every live instance reads
 * (whatever its own forward_api), and each one's count back on `comet/servers/<origin>/disconnected`,
 * summed into one answer. The answer waits for the instances believed online and no longer than the
 * timeout: one that has not answered by then is named in `unanswered`.
 *
 * A request that revokes carries the revocation: each instance records it before it closes the
 * session, so that a client reconnecting at once cannot beat the retained revocation there.
 *
 * A forged request could close anyone's session anywhere, so with mqtt.cluster_key both are signed:
 * a request over its id, origin, uid, reason, time and revocation, an answer over its id, server
 * and count. An unsigned or wrongly signed one, a request older (or younger) than
 * REQUEST_MAX_AGE_MS, or one already handled, is dropped, counted and warned (rate-limited).
 */
import { randomBytes } from "node:crypto";
import type { Revocation } from "../../auth/revocations.ts";
import { nowNs } from "../../hub/activity.ts";
import type { Hub } from "../../hub/hub.ts";
import { compareUtf8 } from "../../util/order.ts";
import type { Logger } from "../../log.ts";
import type { Counter } from "../../metrics/registry.ts";
import { Close } from "../../protocol/codes.ts";
import { jsonObjectOf } from "../../protocol/json.ts";
import type { DisconnectAnswer } from "../../protocol/operator.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import { type LiveServers, SERVERS_TOPIC } from "../cluster/servers.ts";
import { listSignature, listSignatureValid } from "../../util/signature.ts";
import type { Qos } from "../wire/qos.ts";
import type { GatherWire } from "./gather.ts";
import { escapeLevel } from "./topics.ts";

export interface DisconnectOptions {
  hub: Pick<Hub, "kick">;
  wire: GatherWire;
  servers: LiveServers;
  /** This instance's id. */
  server: string;
  qos: Qos;
  timeoutMs: number;
  /** Where a request's revocation is recorded (the instance's RevocationTable). */
  revocations?: { add(r: Revocation): boolean };
  /** mqtt.cluster_key: requests and answers signed, and what is not dropped. */
  clusterKey?: string;
  /** Requests and answers read, by kind and outcome. */
  received: Counter;
  /** comet_bridge_activity_in_total: the protocol counts every unsigned cluster message there. */
  unsigned: Counter;
  log: Logger;
}

/** A signed request this much older or younger than the reader's clock is not acted on. */
export const REQUEST_MAX_AGE_MS = 30_000;
const REQUEST_MAX_AGE_NS = BigInt(REQUEST_MAX_AGE_MS) * 1_000_000n;

const PREFIX = `${SERVERS_TOPIC}/`;
/** The filter every instance subscribes to: the requests of all the others. */
export const DISCONNECT_REQUESTS = `${PREFIX}+/disconnect`;
export const disconnectAnswers = (server: string): string => `${PREFIX}${escapeLevel(server)}/disconnected`;

interface Pending {
  disconnected: number;
  waiting: Set<string>;
  finish: () => void;
}

const requestFields = (id: string, origin: string, uid: string, reason: string, time: string, r?: Revocation) => [
  "disconnect",
  id,
  origin,
  uid,
  reason,
  time,
  r ? `${r.at}/${r.expires}` : "",
];

const answerFields = (id: string, server: string, n: number) => ["disconnect-answer", id, server, String(n)];

export class ClusterDisconnect {
  readonly requestTopic: string;
  private readonly pending = new Map<string, Pending>();
  /** Signed requests acted on in the last REQUEST_MAX_AGE_MS, by id, with when each may go (in that order). */
  private readonly handled = new Map<string, number>();
  private readonly dropped: RateLimitedWarn;
  private readonly forged: RateLimitedWarn;

  constructor(private readonly options: DisconnectOptions) {
    this.requestTopic = `${PREFIX}${escapeLevel(options.server)}/disconnect`;
    this.dropped = new RateLimitedWarn(options.log, "mqtt: cluster disconnect message dropped");
    this.forged = new RateLimitedWarn(
      options.log,
      "mqtt: cluster disconnect message without a valid cluster_key signature ignored",
    );
  }

  /** Closes uid's session here at once and asks every other live instance; sums their counts. */
  disconnect(uid: string, reason: string, revoked?: Revocation): Promise<DisconnectAnswer> {
    const { hub, wire, servers, server, timeoutMs, qos, clusterKey } = this.options;
    const here = hub.kick(uid, Close.Disconnected, reason) ? 1 : 0;
    const others = servers.live().filter((id) => id !== server);
    if (others.length === 0) return Promise.resolve({ disconnected: here });
    if (!wire.connected) return Promise.resolve({ disconnected: here, unanswered: others.sort(compareUtf8) });
    const id = randomBytes(9).toString("base64url");
    const time = nowNs();
    const request: Record<string, unknown> = { id, origin: server, uid, reason, time };
    if (revoked) request.revoke = { at: revoked.at, expires: revoked.expires };
    if (clusterKey) request.sig = listSignature(clusterKey, requestFields(id, server, uid, reason, time, revoked));
    return new Promise((resolve) => {
      const p: Pending = {
        disconnected: here,
        waiting: new Set(others),
        finish: () => {
          clearTimeout(timer);
          this.pending.delete(id);
          const answer: DisconnectAnswer = { disconnected: p.disconnected };
          if (p.waiting.size > 0) answer.unanswered = [...p.waiting].sort(compareUtf8);
          resolve(answer);
        },
      };
      const timer = setTimeout(p.finish, timeoutMs);
      this.pending.set(id, p);
      wire.publish(this.requestTopic, JSON.stringify(request), qos);
    });
  }

  /** Another instance asks: its revocation recorded, the session here closed, the count sent back. */
  onRequest(payload: Buffer): void {
    const { hub, wire, server, qos, clusterKey, received, revocations } = this.options;
    const o = jsonObjectOf(payload);
    const r = o && readRequest(o);
    if (!o || !r) {
      received.inc({ kind: "request", outcome: "invalid" });
      this.dropped.warn({ topic: DISCONNECT_REQUESTS, reason: "not a disconnect request" });
      return;
    }
    if (r.origin === server) {
      received.inc({ kind: "request", outcome: "own" });
      return;
    }
    if (clusterKey && !this.freshSigned(r, o.sig, clusterKey)) return;
    if (r.revoke) revocations?.add(r.revoke);
    const n = hub.kick(r.uid, Close.Disconnected, r.reason) ? 1 : 0;
    received.inc({ kind: "request", outcome: "done" });
    if (!wire.connected) return;
    const answer: Record<string, unknown> = { id: r.id, server, disconnected: n };
    if (clusterKey) answer.sig = listSignature(clusterKey, answerFields(r.id, server, n));
    wire.publish(disconnectAnswers(r.origin), JSON.stringify(answer), qos);
  }

  /** An answer to one of this instance's requests. */
  onReply(payload: Buffer): void {
    const { received, clusterKey } = this.options;
    const o = jsonObjectOf(payload);
    const p = o && typeof o.id === "string" ? this.pending.get(o.id) : undefined;
    // After the timeout, or to a request of an earlier life: nobody waits for it.
    if (!o || !p) {
      received.inc({ kind: "answer", outcome: "late" });
      return;
    }
    const { id, server, disconnected: n } = o as { id: string; server: unknown; disconnected: unknown };
    if (typeof server !== "string" || !Number.isInteger(n) || (n as number) < 0 || (n as number) > 1) {
      received.inc({ kind: "answer", outcome: "invalid" });
      this.dropped.warn({ topic: disconnectAnswers(this.options.server), reason: "not a disconnect answer" });
      return;
    }
    if (clusterKey && !listSignatureValid(clusterKey, answerFields(id, server, n as number), o.sig)) {
      this.unsignedSeen("answer", { topic: disconnectAnswers(this.options.server), server });
      return;
    }
    // One answer per instance: a repeat (or an instance not asked) adds nothing.
    if (!p.waiting.delete(server)) {
      received.inc({ kind: "answer", outcome: "duplicate" });
      return;
    }
    received.inc({ kind: "answer", outcome: "merged" });
    p.disconnected += n as number;
    if (p.waiting.size === 0) p.finish();
  }

  /** A request signed with the key, recent, and not handled yet; else counted and warned. */
  private freshSigned(r: Request, sig: unknown, key: string): boolean {
    if (!listSignatureValid(key, requestFields(r.id, r.origin, r.uid, r.reason, r.time, r.revoke), sig)) {
      this.unsignedSeen("request", { topic: DISCONNECT_REQUESTS, origin: r.origin });
      return false;
    }
    const now = Date.now();
    for (const [seen, until] of this.handled) {
      if (until > now) break;
      this.handled.delete(seen);
    }
    const age = BigInt(nowNs()) - BigInt(r.time);
    if (age > REQUEST_MAX_AGE_NS || -age > REQUEST_MAX_AGE_NS || this.handled.has(r.id)) {
      this.options.received.inc({ kind: "request", outcome: "stale" });
      this.dropped.warn({ topic: DISCONNECT_REQUESTS, reason: "a signed request replayed, or too old", origin: r.origin });
      return false;
    }
    this.handled.set(r.id, now + REQUEST_MAX_AGE_MS);
    return true;
  }

  private unsignedSeen(kind: "request" | "answer", fields: Record<string, string>): void {
    this.options.received.inc({ kind, outcome: "unsigned" });
    this.options.unsigned.inc({ outcome: "unsigned" });
    this.forged.warn(fields);
  }
}

interface Request {
  id: string;
  origin: string;
  uid: string;
  reason: string;
  /** ns since the epoch, decimal digits. */
  time: string;
  revoke?: Revocation;
}

function readRequest(o: Record<string, unknown>): Request | undefined {
  const { id, origin, uid, reason, time, revoke } = o;
  if (typeof id !== "string" || id.length === 0 || id.length > 64) return undefined;
  if (typeof origin !== "string" || typeof uid !== "string" || uid === "" || typeof reason !== "string") return undefined;
  if (typeof time !== "string" || !/^\d{1,20}$/.test(time)) return undefined;
  const r: Request = { id, origin, uid, reason, time };
  if (revoke !== undefined) {
    const { at, expires } = (revoke ?? {}) as Record<string, unknown>;
    if (!Number.isSafeInteger(at) || !Number.isSafeInteger(expires)) return undefined;
    r.revoke = { uid, at: at as number, expires: expires as number };
  }
  return r;
}
