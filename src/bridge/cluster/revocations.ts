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
import { listSignature, listSignatureValid } from "./signature.ts";

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
  const { link, settings, counters, servers, log, id } = ctx;
  const { clusterKey } = settings;
  const prefix = revocationPrefix(namespace);
  const marker = `${SERVERS_TOPIC}/${escapeLevel(id)}/revocations-read`;
  const invalid = new RateLimitedWarn(log, "mqtt: revocation not understood");
  const forged = new RateLimitedWarn(log, "mqtt: revocation without a valid cluster_key signature ignored");
  const count = (outcome: string) => counters.revocationsIn.inc({ outcome });
  /** This connection's marker, until it comes back. */
  let nonce: string | undefined;
  let synced = false;
  /** What the broker sent on this connection: uid → the latest `at`. */
  const onBroker = new Map<string, number>();

  const publish = (r: Revocation) =>
    link.publishRetained({ topic: revocationTopic(namespace, r.uid), payload: encodeRevocation(r, clusterKey), qos: 1, retain: true });
  // One instance clears what lapsed, so that the broker does not keep it for ever.
  const clears = () => servers.live()[0] === id;
  const clear = (uid: string) => link.publishRetained({ topic: revocationTopic(namespace, uid), payload: "", qos: 1, retain: true });

  function receive(topic: string, payload: Buffer): void {
    if (payload.byteLength === 0) {
      count("cleared");
      return;
    }
    const r = parseRevocation(payload);
    const expected = r && revocationTopic(namespace, r.uid);
    if (!r || (topic !== expected && topic !== expected?.replaceAll(".", "/"))) {
      count("invalid");
      invalid.warn({ topic, bytes: payload.byteLength });
      return;
    }
    if (clusterKey && !listSignatureValid(clusterKey, fields(r), r.sig)) {
      count("unsigned");
      counters.activityIn.inc({ outcome: "unsigned" });
      forged.warn({ topic, uid: r.uid });
      return;
    }
    onBroker.set(r.uid, Math.max(r.at, onBroker.get(r.uid) ?? r.at));
    if (r.expires <= Date.now()) {
      count("expired");
      if (clears()) clear(r.uid);
      return;
    }
    count(table.add({ uid: r.uid, at: r.at, expires: r.expires }) ? "kept" : "known");
  }

  function markerBack(payload: Buffer): void {
    if (payload.toString() !== nonce) return;
    nonce = undefined;
    synced = true;
    clearInterval(resend);
    let published = 0;
    for (const r of table.list()) {
      if ((onBroker.get(r.uid) ?? -1) >= r.at) continue;
      publish(r);
      published++;
    }
    log.info("revocations read from the broker", { in_force: table.size, published_again: published });
  }

  let resend: ReturnType<typeof setInterval> | undefined;
  const sendMarker = () => {
    if (nonce !== undefined && link.connected) link.publish(marker, nonce, 1);
  };

  // RabbitMQ hands a topic back from its routing key, where a namespace's dots were level
  // separators: io.goeasy/revoked/u arrives as io/goeasy/revoked/u, so that form is read too.
  for (const p of new Set([prefix, prefix.replaceAll(".", "/")])) link.readFilter(`${p}+`, receive);
  link.read(marker, (payload) => markerBack(payload));
  link.whenConnected(() => {
    synced = false;
    onBroker.clear();
    nonce = randomBytes(9).toString("base64url");
    const gen = link.generation;
    // A second SUBSCRIBE, acknowledged after the first: its retained messages are on their way.
    link.subscribe([marker], 1, (err) => {
      if (err || gen !== link.generation) return;
      sendMarker();
      clearInterval(resend);
      // A marker lost with its connection is sent again by the next; one the broker dropped, here.
      resend = setInterval(sendMarker, 2000);
      resend.unref?.();
    });
  });
  const unlisten = [
    table.onRevoke(publish),
    // A broker that keeps retained messages from wildcard subscriptions (RabbitMQ) leaves a
    // newcomer without them: the smallest live instance sends them again (later than ready, there).
    servers.onChange((c) => {
      if (c.change === "joined" && clears() && link.connected) for (const r of table.list()) publish(r);
    }),
    table.onLapse((r) => {
      // Not when a newer one of the uid was seen on the broker: that one stays.
      if (clears() && link.connected && (onBroker.get(r.uid) ?? r.at) <= r.at) clear(r.uid);
    }),
  ];
  // Lapses are noticed when a check, a list or this sweep meets them; revocations made elsewhere
  // carry their own expiry, so the sweep does not wait for this instance's ttl.
  const sweep = setInterval(() => table.sweep(), 1000);
  sweep.unref?.();

  return {
    notReady: () => (synced ? undefined : "mqtt: reading the revocations retained on the broker"),
    close() {
      for (const u of unlisten) u();
      clearInterval(sweep);
      clearInterval(resend);
    },
  };
}
