/**
 * Revocations kept on the broker, for the whole cluster and across restarts: each one a retained
 * message on `<namespace>/revoked/<uid>` (`{"uid","at","expires"}`, plus `sig` with
 * mqtt.cluster_key), which every instance reads into its RevocationTable (auth/revocations.ts),
 * the one every AUTH asks.
 *
 * Read before ready: after each connection's SUBSCRIBE the instance sends itself a marker (QoS 1,
 * on a topic of its own) once a second SUBSCRIBE is acknowledged; brokers send a subscription's
 * retained messages right after its SUBACK (Mosquitto within the SUBSCRIBE itself), so when the
 * marker comes back they have been read, and /readyz stops answering 503 for them. Then what this
 * instance holds and the broker lacks (a revocation made while it was away, a broker restarted
 * without persistence) is published again.
 *
 * A revocation lapses auth.revocation_ttl after it was made: each instance drops it then, and the
 * live instance with the smallest id clears its retained message (an empty payload, which is never
 * read as anything: a revocation ends by its time alone, so a forger cannot end one by clearing it).
 * With a cluster key, one whose signature is missing or wrong is ignored, counted and warned.
 */
import { randomBytes } from "node:crypto";
import type { Revocation, RevocationTable } from "../../auth/revocations.ts";
import { jsonObjectOf } from "../../protocol/json.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import type { BridgeContext, BridgePiece } from "../context.ts";
import { escapeLevel, routableLevel } from "../routing/topics.ts";
import { SERVERS_TOPIC } from "./servers.ts";
import { listSignature, listSignatureValid } from "../../util/signature.ts";

export interface RevocationsPiece extends BridgePiece {
  /** For /readyz: undefined once this connection has read the broker's revocations. */
  notReady(): string | undefined;
}

/** A namespace names topic levels as it is, but for what no topic may hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the controls are what no topic may hold
const NOT_IN_TOPIC = /[+#\u0000-\u001f\u007f-\u009f]/g;

/** Where uid's revocation is kept: its routed level, or (for a uid no topic may hold) its UTF-16 units in hex. */
export function revocationTopic(namespace: string, uid: string): string {
  const units = () => Array.from({ length: uid.length }, (_, i) => uid.charCodeAt(i).toString(16).padStart(4, "0"));
  // escapeLevel writes every % as %25, so a level that starts %u is never a routed one.
  return `${revocationPrefix(namespace)}${routableLevel(uid) ?? `%u${units().join("")}`}`;
}

export const revocationPrefix = (namespace: string): string => `${namespace.replace(NOT_IN_TOPIC, "_")}/revoked/`;

const fields = (r: Revocation): string[] => ["revoked", r.uid, String(r.at), String(r.expires)];

export function encodeRevocation(r: Revocation, clusterKey?: string): string {
  const o: Record<string, unknown> = { uid: r.uid, at: r.at, expires: r.expires };
  if (clusterKey) o.sig = listSignature(clusterKey, fields(r));
  return JSON.stringify(o);
}

/** A retained revocation's payload; undefined when it is not one. */
export function parseRevocation(payload: Uint8Array): (Revocation & { sig: unknown }) | undefined {
  const o = jsonObjectOf(payload);
  if (!o) return undefined;
  const { uid, at, expires, sig } = o;
  if (typeof uid !== "string" || uid === "" || !Number.isSafeInteger(at) || !Number.isSafeInteger(expires)) return undefined;
  return { uid, at: at as number, expires: expires as number, sig };
}

export function installRevocations(ctx: BridgeContext, namespace: string, table: RevocationTable): RevocationsPiece {
  const piece = new BrokerRevocations(ctx, namespace, table);
  // RabbitMQ hands a topic back from its routing key, where a namespace's dots were level
  // separators: io.goeasy/revoked/u arrives as io/goeasy/revoked/u, so that form is read too.
  const prefix = revocationPrefix(namespace);
  for (const p of new Set([prefix, prefix.replaceAll(".", "/")])) {
    ctx.link.readFilter(`${p}+`, (topic, payload) => piece.receive(topic, payload));
  }
  ctx.link.read(piece.marker, (payload) => piece.markerBack(payload));
  ctx.link.whenConnected(() => piece.connected());
  return piece;
}

/** The table kept in step with the broker, for one instance (see the top of this file). */
class BrokerRevocations implements RevocationsPiece {
  /** Where this instance sends itself its marker. */
  readonly marker: string;
  /** This connection's marker, until it comes back. */
  private nonce: string | undefined;
  private synced = false;
  /** What the broker sent on this connection: uid → the latest `at`. */
  private readonly onBroker = new Map<string, number>();
  private resend: ReturnType<typeof setInterval> | undefined;
  private readonly sweep: ReturnType<typeof setInterval>;
  private readonly unlisten: Array<() => void>;
  private readonly invalid: RateLimitedWarn;
  private readonly forged: RateLimitedWarn;

  constructor(
    private readonly ctx: BridgeContext,
    private readonly namespace: string,
    private readonly table: RevocationTable,
  ) {
    this.marker = `${SERVERS_TOPIC}/${escapeLevel(ctx.id)}/revocations-read`;
    this.invalid = new RateLimitedWarn(ctx.log, "mqtt: revocation not understood");
    this.forged = new RateLimitedWarn(ctx.log, "mqtt: revocation without a valid cluster_key signature ignored");
    const { servers } = ctx;
    this.unlisten = [
      table.onRevoke((r) => this.publish(r)),
      // A broker that keeps retained messages from wildcard subscriptions (RabbitMQ) leaves a
      // newcomer without them: the smallest live instance sends them again (later than ready, there).
      servers.onChange((c) => {
        if (c.change === "joined" && this.clears()) for (const r of table.list()) this.publish(r);
      }),
      table.onLapse((r) => {
        // Not when a newer one of the uid was seen on the broker: that one stays.
        if (this.clears() && (this.onBroker.get(r.uid) ?? r.at) <= r.at) this.clear(r.uid);
      }),
    ];
    // Lapses are noticed when a check, a list or this sweep meets them; revocations made elsewhere
    // carry their own expiry, so the sweep does not wait for this instance's ttl.
    this.sweep = setInterval(() => table.sweep(), 1000);
    this.sweep.unref?.();
  }

  notReady(): string | undefined {
    return this.synced ? undefined : "mqtt: reading the revocations retained on the broker";
  }

  /** A message on <namespace>/revoked/+. */
  receive(topic: string, payload: Buffer): void {
    const { counters, settings } = this.ctx;
    if (payload.byteLength === 0) {
      this.count("cleared");
      return;
    }
    const r = parseRevocation(payload);
    const expected = r && revocationTopic(this.namespace, r.uid);
    if (!r || (topic !== expected && topic !== expected?.replaceAll(".", "/"))) {
      this.count("invalid");
      this.invalid.warn({ topic, bytes: payload.byteLength });
      return;
    }
    if (settings.clusterKey && !listSignatureValid(settings.clusterKey, fields(r), r.sig)) {
      this.count("unsigned");
      counters.activityIn.inc({ outcome: "unsigned" });
      this.forged.warn({ topic, uid: r.uid });
      return;
    }
    this.onBroker.set(r.uid, Math.max(r.at, this.onBroker.get(r.uid) ?? r.at));
    if (r.expires <= Date.now()) {
      this.count("expired");
      if (this.clears()) this.clear(r.uid);
      return;
    }
    this.count(this.table.add({ uid: r.uid, at: r.at, expires: r.expires }) ? "kept" : "known");
  }

  /** Each connection reads the retained revocations again: not ready until its marker is back. */
  connected(): void {
    const { link } = this.ctx;
    this.synced = false;
    this.onBroker.clear();
    this.nonce = randomBytes(9).toString("base64url");
    const gen = link.generation;
    // A second SUBSCRIBE, acknowledged after the first: its retained messages are on their way.
    link.subscribe([this.marker], 1, (err) => {
      if (err || gen !== link.generation) return;
      this.sendMarker();
      clearInterval(this.resend);
      // A marker lost with its connection is sent again by the next; one the broker dropped, here.
      this.resend = setInterval(() => this.sendMarker(), 2000);
      this.resend.unref?.();
    });
  }

  /** The marker came back: the retained revocations are read; what the broker lacks goes again. */
  markerBack(payload: Buffer): void {
    if (payload.toString() !== this.nonce) return;
    this.nonce = undefined;
    this.synced = true;
    clearInterval(this.resend);
    let published = 0;
    for (const r of this.table.list()) {
      if ((this.onBroker.get(r.uid) ?? -1) >= r.at) continue;
      this.publish(r);
      published++;
    }
    this.ctx.log.info("revocations read from the broker", { in_force: this.table.size, published_again: published });
  }

  close(): void {
    for (const u of this.unlisten) u();
    clearInterval(this.sweep);
    clearInterval(this.resend);
  }

  private sendMarker(): void {
    const { link } = this.ctx;
    if (this.nonce !== undefined && link.connected) link.publish(this.marker, this.nonce, 1);
  }

  private publish(r: Revocation): void {
    const payload = encodeRevocation(r, this.ctx.settings.clusterKey);
    this.ctx.link.publishRetained({ topic: revocationTopic(this.namespace, r.uid), payload, qos: 1, retain: true });
  }

  /** One instance clears what lapsed, so that the broker does not keep it for ever. */
  private clears(): boolean {
    return this.ctx.link.connected && this.ctx.servers.live()[0] === this.ctx.id;
  }

  private clear(uid: string): void {
    this.ctx.link.publishRetained({ topic: revocationTopic(this.namespace, uid), payload: "", qos: 1, retain: true });
  }

  private count(outcome: string): void {
    this.ctx.counters.revocationsIn.inc({ outcome });
  }
}
