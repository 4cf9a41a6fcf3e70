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
 */
import { jsonObjectOf } from "../../protocol/json.ts";
import { isTransport } from "../../runtime/types.ts";
import { randomBytes } from "node:crypto";
import { assembleDump } from "../../hub/dump.ts";
import type { Hub } from "../../hub/hub.ts";
import { compareUtf8 } from "../../hub/order.ts";
import type { Dump, SessionView } from "../../hub/session.ts";
import type { Logger } from "../../log.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import { type LiveServers, SERVERS_TOPIC } from "../cluster/servers.ts";
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
  log: Logger;
}

/** How long a cluster DumpSession waits for the other instances. */
export const GATHER_TIMEOUT_MS = 2000;

interface Pending {
  views: SessionView[];
  /** Instances not yet fully answered. */
  waiting: Set<string>;
  /** Parts received so far, per answering instance. */
  parts: Map<string, number>;
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

  constructor(private readonly options: GatherOptions) {
    this.requestTopic = `${SERVERS_PREFIX}${escapeLevel(options.server)}/dump`;
    this.dropped = new RateLimitedWarn(options.log, "mqtt: cluster dump message dropped");
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
      wire.publish(this.requestTopic, JSON.stringify({ id, origin: server, transport: withTransport }), qos);
    });
  }

  /** Another instance asks: this instance's sessions go back to it, in parts. */
  onRequest(payload: Buffer): void {
    const { hub, wire, server, qos } = this.options;
    const o = jsonObjectOf(payload);
    if (!o || typeof o.id !== "string" || typeof o.origin !== "string" || o.id.length > 64) {
      this.dropped.warn({ topic: DUMP_REQUESTS, reason: "not a dump request" });
      return;
    }
    if (o.origin === server || !wire.connected) return;
    const parts = splitParts(hub.views(o.transport === true), this.options.maxPartBytes);
    const head = `{"id":${JSON.stringify(o.id)},"server":${JSON.stringify(server)},"parts":${parts.length},"part":`;
    const topic = replyTopic(o.origin);
    for (const [i, sessions] of parts.entries()) wire.publish(topic, `${head}${i},"sessions":[${sessions}]}`, qos);
  }

  /** An answer to one of this instance's requests. */
  onReply(payload: Buffer): void {
    const o = jsonObjectOf(payload);
    const p = o && typeof o.id === "string" ? this.pending.get(o.id) : undefined;
    // An answer after the timeout, or to a request of an earlier life: nobody waits for it.
    if (!o || !p) return;
    const { server, parts, sessions } = o;
    if (typeof server !== "string" || !Number.isInteger(parts) || !Array.isArray(sessions)) {
      this.dropped.warn({ topic: replyTopic(this.options.server), reason: "not a dump answer" });
      return;
    }
    for (const s of sessions) {
      const v = readSession(s);
      if (v) p.views.push(v);
    }
    const got = (p.parts.get(server) ?? 0) + 1;
    p.parts.set(server, got);
    if (got >= (parts as number)) {
      p.waiting.delete(server);
      if (p.waiting.size === 0) p.finish();
    }
  }
}

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
