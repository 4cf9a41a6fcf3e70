/**
 * DumpSession for the whole cluster (mqtt.forward_api): a request on `comet/servers/<origin>/dump`,
 * each instance's sessions back on `comet/servers/<origin>/answers`, merged into one answer in the
 * usual order. The cluster is every live instance of the server status registry (servers.ts), which
 * is one per broker (or virtual host), whatever their events topics. The answer waits for the
 * instances believed online and no longer than the timeout: one that has not answered by then is
 * named in `unanswered`, never waited on.
 *
 * An instance's sessions go in parts, each within half of limits.max_body_bytes, so that no
 * packet grows with the cluster's size past what a broker (the embedded one included) takes.
 *
 * With mqtt.cluster_key both are signed. A request names who asks (the answers go to its topic) and
 * carries its time: one unsigned, wrongly signed, older than REQUEST_MAX_AGE_MS or already answered
 * is dropped, so that neither a forger nor a replay makes every instance send its sessions. An
 * answer's signature covers its request's id, its part and its sessions: only an instance adds
 * sessions to a DumpSession.
 */
import { jsonObjectOf } from "../../protocol/json.ts";
import { isTransport } from "../../runtime/types.ts";
import { randomBytes } from "node:crypto";
import { nowNs } from "../../hub/activity.ts";
import type { Counter } from "../../metrics/registry.ts";
import { assembleDump } from "../../hub/dump.ts";
import type { Hub } from "../../hub/hub.ts";
import { compareUtf8 } from "../../util/order.ts";
import type { Dump, SessionView } from "../../hub/session.ts";
import type { Logger } from "../../log.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import { type LiveServers, SERVERS_TOPIC } from "../cluster/servers.ts";
import { listSignature, listSignatureValid } from "../../util/signature.ts";
import type { Qos } from "../wire/qos.ts";
import { escapeLevel } from "./topics.ts";

export interface GatherWire {
  readonly connected: boolean;
  publish(topic: string, payload: string, qos: Qos): void;
}

export interface GatherOptions {
  hub: Pick<Hub, "views">;
  wire: GatherWire;
  servers: LiveServers;
  /** This instance's id. */
  server: string;
  qos: Qos;
  /** The largest part of an answer, in bytes of JSON. */
  maxPartBytes: number;
  timeoutMs: number;
  /** mqtt.cluster_key: requests and answers signed, and what is not dropped. */
  clusterKey?: string;
  /** Requests and answers read, by kind and outcome. */
  received: Counter;
  /** comet_bridge_activity_in_total: the protocol counts every unsigned cluster message there. */
  unsigned: Counter;
  log: Logger;
}

/** How long a cluster DumpSession waits for the other instances. */
export const GATHER_TIMEOUT_MS = 2000;

/**
 * With a cluster key, a request this much older (or younger) than the answering instance's clock
 * is not answered: far beyond the wait for answers, so that clocks some seconds apart still agree.
 */
export const REQUEST_MAX_AGE_MS = 30_000;
const REQUEST_MAX_AGE_NS = BigInt(REQUEST_MAX_AGE_MS) * 1_000_000n;

interface Pending {
  views: SessionView[];
  /** Instances not yet fully answered. */
  waiting: Set<string>;
  /** Parts received so far, per answering instance: a part that comes twice counts once. */
  parts: Map<string, Set<number>>;
  finish: () => void;
}

const SERVERS_PREFIX = `${SERVERS_TOPIC}/`;

/** The filter every instance with forward_api subscribes to: the requests of all the others. */
export const DUMP_REQUESTS = `${SERVERS_PREFIX}+/dump`;

/** Where the answers to an instance's requests come. */
export const replyTopic = (server: string): string => `${SERVERS_PREFIX}${escapeLevel(server)}/answers`;

export class DumpGather {
  /** Where this instance asks. */
  readonly requestTopic: string;
  private readonly pending = new Map<string, Pending>();
  private readonly dropped: RateLimitedWarn;
  private readonly unsignedWarn: RateLimitedWarn;
  /**
   * With a cluster key: the signed requests answered in the last REQUEST_MAX_AGE_MS, by id, with
   * when each may be forgotten (in that order: the age is one constant). A replay within the age
   * is dropped here, one past it by its time.
   */
  private readonly answered = new Map<string, number>();

  constructor(private readonly options: GatherOptions) {
    this.requestTopic = `${SERVERS_PREFIX}${escapeLevel(options.server)}/dump`;
    this.dropped = new RateLimitedWarn(options.log, "mqtt: cluster dump message dropped");
    this.unsignedWarn = new RateLimitedWarn(
      options.log,
      "mqtt: cluster dump message without a valid cluster_key signature ignored",
    );
  }

  /** The cluster's sessions: this instance's at once, the others' as they answer, until the timeout. */
  gather(withTransport: boolean): Promise<Dump> {
    const { hub, wire, servers, server, timeoutMs, qos } = this.options;
    const views = hub.views(withTransport);
    const others = [...servers.live()].filter((id) => id !== server);
    if (others.length === 0) return Promise.resolve(assembleDump(views));
    if (!wire.connected) return Promise.resolve(withUnanswered(assembleDump(views), others));
    const id = randomBytes(9).toString("base64url");
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.pending.delete(id);
        const dump = assembleDump(p.views);
        resolve(p.waiting.size > 0 ? withUnanswered(dump, [...p.waiting]) : dump);
      };
      const p: Pending = { views, waiting: new Set(others), parts: new Map(), finish };
      const timer = setTimeout(finish, timeoutMs);
      this.pending.set(id, p);
      wire.publish(this.requestTopic, this.request(id, withTransport), qos);
    });
  }

  private request(id: string, transport: boolean): string {
    const { server, clusterKey } = this.options;
    if (!clusterKey) return JSON.stringify({ id, origin: server, transport });
    const time = nowNs();
    const sig = listSignature(clusterKey, requestFields(id, server, transport, time));
    return JSON.stringify({ id, origin: server, transport, time, sig });
  }

  /** Another instance asks: this instance's sessions go back to it, in parts. */
  onRequest(payload: Buffer): void {
    const { hub, wire, server, qos, clusterKey, received } = this.options;
    const o = jsonObjectOf(payload);
    if (!o || typeof o.id !== "string" || typeof o.origin !== "string" || o.id.length > 64) {
      received.inc({ kind: "request", outcome: "invalid" });
      this.dropped.warn({ topic: DUMP_REQUESTS, reason: "not a dump request" });
      return;
    }
    if (o.origin === server) {
      received.inc({ kind: "request", outcome: "own" });
      return;
    }
    const transport = o.transport === true;
    if (clusterKey && !this.freshSigned(o.id, o.origin, transport, o.time, o.sig, clusterKey)) return;
    if (!wire.connected) return;
    received.inc({ kind: "request", outcome: "answered" });
    const parts = splitParts(hub.views(transport), this.options.maxPartBytes);
    const topic = replyTopic(o.origin);
    for (const [i, sessions] of parts.entries()) {
      const sig = clusterKey
        ? `,"sig":"${listSignature(clusterKey, answerFields(o.id, server, i, parts.length, `[${sessions}]`))}"`
        : "";
      const head = `{"id":${JSON.stringify(o.id)},"server":${JSON.stringify(server)},"parts":${parts.length}`;
      wire.publish(topic, `${head},"part":${i},"sessions":[${sessions}]${sig}}`, qos);
    }
  }

  /** A request signed with the key, recent, and not answered yet; else counted and warned. */
  private freshSigned(id: string, origin: string, transport: boolean, time: unknown, sig: unknown, key: string) {
    const { received, unsigned } = this.options;
    const signed =
      typeof time === "string" &&
      /^\d{1,20}$/.test(time) &&
      listSignatureValid(key, requestFields(id, origin, transport, time), sig);
    if (!signed) {
      received.inc({ kind: "request", outcome: "unsigned" });
      unsigned.inc({ outcome: "unsigned" });
      this.unsignedWarn.warn({ topic: DUMP_REQUESTS, origin });
      return false;
    }
    const now = Date.now();
    for (const [seen, until] of this.answered) {
      if (until > now) break;
      this.answered.delete(seen);
    }
    const age = BigInt(nowNs()) - BigInt(time);
    if (age > REQUEST_MAX_AGE_NS || -age > REQUEST_MAX_AGE_NS || this.answered.has(id)) {
      received.inc({ kind: "request", outcome: "stale" });
      this.dropped.warn({ topic: DUMP_REQUESTS, reason: "a signed dump request replayed, or too old", origin });
      return false;
    }
    this.answered.set(id, now + REQUEST_MAX_AGE_MS);
    return true;
  }

  /** An answer to one of this instance's requests. */
  onReply(payload: Buffer): void {
    const { received, unsigned, clusterKey } = this.options;
    const o = jsonObjectOf(payload);
    const id = o?.id;
    const p = typeof id === "string" ? this.pending.get(id) : undefined;
    // An answer after the timeout, or to a request of an earlier life: nobody waits for it.
    if (!o || !p) {
      received.inc({ kind: "answer", outcome: "late" });
      return;
    }
    const { server, parts, part, sessions } = o;
    if (
      typeof server !== "string" ||
      !Number.isInteger(parts) ||
      !Number.isInteger(part) ||
      (part as number) < 0 ||
      (part as number) >= (parts as number) ||
      !Array.isArray(sessions)
    ) {
      received.inc({ kind: "answer", outcome: "invalid" });
      this.dropped.warn({ topic: replyTopic(this.options.server), reason: "not a dump answer" });
      return;
    }
    // The sessions as they were signed: JSON.stringify gives back the bytes it made before they were parsed.
    const fields = () => answerFields(id as string, server, part as number, parts as number, JSON.stringify(sessions));
    if (clusterKey && !listSignatureValid(clusterKey, fields(), o.sig)) {
      received.inc({ kind: "answer", outcome: "unsigned" });
      unsigned.inc({ outcome: "unsigned" });
      this.unsignedWarn.warn({ topic: replyTopic(this.options.server), server });
      return;
    }
    let got = p.parts.get(server);
    if (!got) {
      got = new Set();
      p.parts.set(server, got);
    }
    if (got.has(part as number)) {
      received.inc({ kind: "answer", outcome: "duplicate" });
      return;
    }
    got.add(part as number);
    received.inc({ kind: "answer", outcome: "merged" });
    for (const s of sessions) {
      const v = readSession(s);
      if (v) p.views.push(v);
    }
    if (got.size >= (parts as number)) {
      p.waiting.delete(server);
      if (p.waiting.size === 0) p.finish();
    }
  }
}

/** What a request's signature covers. */
const requestFields = (id: string, origin: string, transport: boolean, time: string): string[] => [
  "dump",
  id,
  origin,
  transport ? "transport" : "",
  time,
];

/** What an answer's signature covers: its request, its place among the parts, its sessions' JSON. */
const answerFields = (id: string, server: string, part: number, parts: number, sessions: string): string[] => [
  "dump-answer",
  id,
  server,
  `${part}/${parts}`,
  sessions,
];

function withUnanswered(dump: Dump, servers: string[]): Dump {
  dump.unanswered = servers.sort(compareUtf8);
  return dump;
}

/** Sessions as JSON fragments, grouped so that each group stays within maxBytes (one session may not). */
function splitParts(views: SessionView[], maxBytes: number): string[] {
  const parts: string[] = [];
  let current = "";
  let bytes = 0;
  for (const v of views) {
    const json = JSON.stringify(v);
    const size = Buffer.byteLength(json, "utf8") + 1;
    if (current !== "" && bytes + size > maxBytes) {
      parts.push(current);
      current = "";
      bytes = 0;
    }
    current = current === "" ? json : `${current},${json}`;
    bytes += size;
  }
  // An instance with no session still answers, with one empty part.
  parts.push(current);
  return parts;
}

function readSession(s: unknown): SessionView | undefined {
  if (typeof s !== "object" || s === null) return undefined;
  const { uid, rid, birth, transport } = s as Record<string, unknown>;
  if (typeof uid !== "string" || typeof rid !== "string" || typeof birth !== "string") return undefined;
  const v: SessionView = { uid, rid, birth };
  if (isTransport(transport)) v.transport = transport;
  return v;
}
