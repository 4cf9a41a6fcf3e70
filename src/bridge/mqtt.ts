/**
 * The MQTT bridge: Events in (→ hub publish / broadcast), user activity out, and one session per
 * uid across every instance on the broker. The broker being away never stops the instance: it keeps
 * serving its own clients, holds a bounded queue of activity, and reconnects with backoff.
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Config } from "../config/schema.ts";
import type { Activity, ActivityName } from "../hub/activity.ts";
import type { Hub } from "../hub/hub.ts";
import type { Session } from "../hub/session.ts";
import type { Counter, Registry } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { type BackoffOptions, backoffDelay } from "../protocol/backoff.ts";
import { Close } from "../protocol/codes.ts";
import { judgeRemoteActivity } from "./cluster-rule.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./embedded.ts";
import { encodeActivity, parseActivity, parseEvent } from "./event.ts";
import { BoundedQueue } from "./queue.ts";
import { RateLimitedWarn } from "./ratelog.ts";
import { type BridgeSettings, brokerAddress, bridgeSettings, showUrl } from "./settings.ts";

export interface BridgeDeps {
  config: Config;
  hub: Hub;
  registry: Registry;
  log: Logger;
}

/** Starts the bridge (and the embedded broker when configured); undefined when mqtt is off. */
export async function startBridge(deps: BridgeDeps): Promise<Bridge | undefined> {
  const settings = bridgeSettings(deps.config);
  if (!settings) return undefined;
  let embedded: EmbeddedBroker | undefined;
  if (settings.embedded) {
    embedded = await startEmbeddedBroker({
      ...settings.embedded,
      username: settings.username,
      password: settings.password,
      log: deps.log,
    });
  }
  return new Bridge(settings, settings.url ?? (embedded as EmbeddedBroker).url, deps, embedded);
}

/** hostname + pid tell an operator where an instance runs; the random part keeps ids apart in one process. */
export function instanceId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

/**
 * 100 ms doubling to 5 s. Equal jitter spreads a cluster's reconnects yet keeps a floor, so that a
 * broker that refuses at once is not asked again at once.
 */
const RECONNECT: BackoffOptions = { base: 100, max: 5000, jitter: "equal" };

export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  return backoffDelay(attempt, RECONNECT, random);
}

const BACKLOG_BYTES = 1 << 20;
const QOS0 = { qos: 0 } as const;

interface Outgoing {
  type: ActivityName;
  payload: string;
}

export class Bridge {
  /** This instance's id: the `server` of its activity, and the tie-break of the replacement rule. */
  readonly id = instanceId();
  /** The broker URL with any password hidden. */
  readonly url: string;
  private readonly client: MqttClient;
  private readonly queue: BoundedQueue<Outgoing>;
  /** Each session's ONLINE time: the exact number the other instances compare theirs with. */
  private readonly onlineAt = new WeakMap<Session, bigint>();
  private readonly unlisten: () => void;
  private readonly badEvent: RateLimitedWarn;
  private readonly badActivity: RateLimitedWarn;
  private readonly m: {
    eventsIn: Counter;
    activityIn: Counter;
    activityOut: Counter;
    dropped: Counter;
    reconnects: Counter;
  };
  private up = false;
  private subscribed = false;
  private everUp = false;
  /** Bumped on each connect, so that a late SUBACK of an earlier connection is ignored. */
  private generation = 0;
  private attempt = 0;
  private lastError: string | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;
  private readonly onAcked: Map<ActivityName, (err?: Error) => void> = new Map();
  /** The connection generation whose socket a 'drain' listener waits on; -1 for none. */
  private drainWait = -1;

  constructor(
    private readonly s: BridgeSettings,
    url: string,
    private readonly deps: BridgeDeps,
    readonly embedded: EmbeddedBroker | undefined,
  ) {
    const { registry, hub, log } = deps;
    this.url = showUrl(url);
    this.queue = new BoundedQueue(s.queue);
    this.badEvent = new RateLimitedWarn(log, "mqtt: event dropped");
    this.badActivity = new RateLimitedWarn(log, "mqtt: activity from the broker not understood");
    this.m = {
      eventsIn: registry.counter("comet_bridge_events_in_total", "Events from the broker, by outcome"),
      activityIn: registry.counter(
        "comet_bridge_activity_in_total",
        "Activity read back from the broker, by outcome (replaced = a local session closed 4409)",
      ),
      activityOut: registry.counter(
        "comet_bridge_activity_out_total",
        "Activity sent to the broker (QoS 0: written; QoS 1/2: acknowledged), by type",
      ),
      dropped: registry.counter("comet_bridge_activity_dropped_total", "Outgoing activity dropped, by reason"),
      reconnects: registry.counter(
        "comet_bridge_reconnects_total",
        "Times the bridge got back to the broker after losing it",
      ),
    };
    registry.gauge("comet_bridge_connected", "1 while connected to the broker and subscribed, else 0", () =>
      this.subscribed ? 1 : 0,
    );
    registry.gauge("comet_bridge_queue_length", "Outgoing activity waiting for the broker", () => this.queue.size);

    const opts: IClientOptions = {
      clientId: `comet-${randomBytes(8).toString("hex")}`,
      protocolVersion: 4,
      clean: true,
      keepalive: 15,
      connectTimeout: 5000,
      // Reconnecting, resubscribing and queueing are ours: mqtt.js retries at a fixed period and
      // queues without bound.
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      ...brokerAddress(url),
      ...s.tls,
    };
    // The keys, when set, win over credentials in the URL.
    if (s.username !== undefined) opts.username = s.username;
    if (s.password !== undefined) opts.password = s.password;
    log.info("mqtt bridge starting", {
      url: this.url,
      server: this.id,
      events_topic: s.eventsTopic,
      activity_topic: s.activityTopic,
    });
    this.client = connect(opts);
    this.client.on("connect", () => this.onConnect());
    this.client.on("close", () => this.onClose());
    this.client.on("error", (err) => {
      this.lastError = err.message;
    });
    this.client.on("message", (topic, payload) => this.onMessage(topic, payload));
    this.unlisten = hub.onActivity((a) => this.onActivity(a));
  }

  /** For /readyz: undefined when ready, else why not. */
  notReady(): string | undefined {
    if (this.subscribed) return undefined;
    if (this.up)
      return `mqtt: connected to ${this.url}, not subscribed${this.lastError ? `: ${this.lastError}` : " yet"}`;
    return `mqtt: not connected to broker ${this.url}${this.lastError ? `: ${this.lastError}` : ""}`;
  }

  private onConnect(): void {
    const gen = ++this.generation;
    this.up = true;
    this.lastError = undefined;
    if (this.everUp) this.m.reconnects.inc();
    this.everUp = true;
    this.deps.log.info("mqtt connected", { url: this.url });
    const { eventsTopic, activityTopic, qos } = this.s;
    // A clean session forgets subscriptions, so every connection subscribes again.
    this.client.subscribe({ [eventsTopic]: { qos }, [activityTopic]: { qos } }, (err, granted) => {
      if (gen !== this.generation || !this.up) return;
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      if (err || refused.length > 0) {
        this.lastError = err
          ? `subscribe failed: ${err.message}`
          : `the broker refused the subscription to ${refused.join(", ")}`;
        this.deps.log.error("mqtt subscribe failed", { url: this.url, error: this.lastError });
        return;
      }
      this.subscribed = true;
      this.attempt = 0;
    });
    this.flush();
  }

  private onClose(): void {
    const wasUp = this.up;
    this.up = false;
    this.subscribed = false;
    if (this.closing) return;
    const delay = reconnectDelay(this.attempt++);
    const fields = { url: this.url, error: this.lastError, retry_ms: delay };
    if (wasUp) this.deps.log.warn("mqtt connection lost; reconnecting", fields);
    else if (this.attempt === 1) this.deps.log.warn("mqtt broker unreachable; retrying", fields);
    else this.deps.log.debug("mqtt connect failed; retrying", fields);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closing) this.client.reconnect();
    }, delay);
  }

  private onActivity(a: Activity): void {
    if (a.type === "ONLINE") {
      const s = this.deps.hub.sessions.get(a.uid);
      if (s) this.onlineAt.set(s, BigInt(a.time));
    }
    if (this.closing || !this.s.activity.has(a.type)) return;
    const out: Outgoing = { type: a.type, payload: encodeActivity(a, this.id) };
    if (this.up && this.queue.size === 0 && !this.backlogged()) this.publish(out);
    else {
      if (this.queue.push(out) > 0) this.m.dropped.inc({ reason: "queue_full" });
      if (this.up) this.flushOnDrain();
    }
  }

  /**
   * A broker that is connected but slow to read must not make the socket buffer grow without
   * bound: past this many unsent bytes, activity waits in the bounded queue as when it is away.
   */
  private backlogged(): boolean {
    return (this.client.stream?.writableLength ?? 0) > BACKLOG_BYTES;
  }

  private flush(): void {
    while (this.up && this.queue.size > 0) {
      if (this.backlogged()) {
        this.flushOnDrain();
        return;
      }
      this.publish(this.queue.shift() as Outgoing);
    }
  }

  private flushOnDrain(): void {
    if (this.drainWait === this.generation) return;
    const gen = this.generation;
    this.drainWait = gen;
    this.client.stream.once("drain", () => {
      if (this.drainWait === gen) this.drainWait = -1;
      if (gen === this.generation) this.flush();
    });
  }

  private publish(o: Outgoing): void {
    if (this.s.qos === 0) {
      // No callback at QoS 0: mqtt.js would hold one 'drain' listener per packet while the socket is busy.
      this.client.publish(this.s.activityTopic, o.payload, QOS0);
      this.m.activityOut.inc({ type: o.type });
    } else {
      this.client.publish(this.s.activityTopic, o.payload, { qos: this.s.qos }, this.acked(o.type));
    }
  }

  /** One callback per type, made once: activity is the busiest path out. */
  private acked(type: ActivityName): (err?: Error) => void {
    let cb = this.onAcked.get(type);
    if (!cb) {
      cb = (err?: Error) => {
        if (err) this.m.dropped.inc({ reason: "publish_failed" });
        else this.m.activityOut.inc({ type });
      };
      this.onAcked.set(type, cb);
    }
    return cb;
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.s.eventsTopic) this.onEvent(payload);
    else if (topic === this.s.activityTopic) this.onRemoteActivity(payload);
  }

  private onEvent(payload: Buffer): void {
    const r = parseEvent(payload, this.s.limits);
    if (!r.ok) {
      this.m.eventsIn.inc({ outcome: r.outcome });
      this.badEvent.warn({ topic: this.s.eventsTopic, reason: r.reason, bytes: payload.byteLength });
      return;
    }
    const n = this.deps.hub.deliver(r.delivery);
    this.m.eventsIn.inc({ outcome: n > 0 ? "delivered" : "no_recipient" });
  }

  /** Another instance's newer ONLINE for a uid held here closes the local session (cluster-rule.ts). */
  private onRemoteActivity(payload: Buffer): void {
    const a = parseActivity(payload);
    if (!a) {
      this.m.activityIn.inc({ outcome: "invalid" });
      this.badActivity.warn({ topic: this.s.activityTopic, bytes: payload.byteLength });
      return;
    }
    const session = this.deps.hub.sessions.get(a.uid);
    const localOnline = session && (this.onlineAt.get(session) ?? BigInt(session.birth) * 1_000_000n);
    const outcome = judgeRemoteActivity(a, this.id, localOnline);
    this.m.activityIn.inc({ outcome });
    if (outcome === "kept") {
      this.deps.log.info("session kept: an older ONLINE from another instance", { uid: a.uid, server: a.server });
    } else if (outcome === "replaced") {
      this.deps.log.info("session replaced by another instance", { uid: a.uid, server: a.server });
      this.deps.hub.kick(a.uid, Close.Replaced, "replaced by a newer session of the same uid on another instance");
    }
  }

  /** Stops reconnecting, sends what the client already holds, disconnects, stops the embedded broker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.unlisten();
      if (this.retry) clearTimeout(this.retry);
      const left = this.queue.clear();
      if (left > 0) this.m.dropped.inc({ reason: "shutdown" }, left);
      if (this.up) {
        // A graceful end waits for the broker to acknowledge QoS 1/2 activity; a broker that stops
        // answering must not hold the shutdown, so the socket goes after a while.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const gave = new Promise<boolean>((r) => {
          timer = setTimeout(() => r(false), 2000);
        });
        const ended = await Promise.race([
          this.client.endAsync(false).then(
            () => true,
            () => true,
          ),
          gave,
        ]);
        clearTimeout(timer);
        if (!ended) this.client.stream?.destroy();
      } else {
        await this.client.endAsync(true).catch(() => {});
      }
      this.subscribed = false;
      await this.embedded?.close();
    })();
    return this.closing;
  }
}
