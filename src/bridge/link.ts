/**
 * The connection to the broker: connects, reconnects with backoff when it is lost, subscribes again
 * on every connection, and tells /readyz why it is not ready. The broker being away is a state
 * here, never an error that stops the instance.
 */
import { randomBytes } from "node:crypto";
import { connect, type IClientOptions, type MqttClient } from "mqtt";
import type { Counter } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { type BackoffOptions, backoffDelay } from "../protocol/backoff.ts";
import type { Wire } from "./outbox.ts";
import { type BridgeSettings, brokerAddress, type Qos, showUrl } from "./settings.ts";

/**
 * 100 ms doubling to 5 s. Equal jitter spreads a cluster's reconnects yet keeps a floor, so that a
 * broker that refuses at once is not asked again at once.
 */
const RECONNECT: BackoffOptions = { base: 100, max: 5000, jitter: "equal" };

export function reconnectDelay(attempt: number, random: () => number = Math.random): number {
  return backoffDelay(attempt, RECONNECT, random);
}

/** Made once: mqtt.js copies them, and activity is the busiest path out. */
const PUBLISH_OPTIONS = [{ qos: 0 }, { qos: 1 }, { qos: 2 }] as const;

export interface LinkOptions {
  /** The broker URL, credentials included. */
  url: string;
  settings: Pick<BridgeSettings, "username" | "password" | "tls" | "qos">;
  /** What to subscribe to on every connection, and who reads each topic's messages. */
  topics: ReadonlyMap<string, (payload: Buffer) => void>;
  /** Who reads messages on topics not in `topics`: those of subscribe() and of wildcard filters. */
  other?: (topic: string, payload: Buffer) => void;
  /** The Last Will: published, retained, by the broker when this connection is lost without a goodbye. */
  will?: { topic: string; payload: string };
  /** Called on every connection once the subscriptions are asked for: what waited may go. */
  onConnected: () => void;
  reconnects: Counter;
  log: Logger;
}

export class BrokerLink implements Wire {
  /** The broker URL with any password hidden. */
  readonly url: string;
  private readonly client: MqttClient;
  private up = false;
  private subscribed = false;
  private connections = 0;
  private attempt = 0;
  private lastError: string | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly options: LinkOptions) {
    const { url, settings, topics } = options;
    this.url = showUrl(url);
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
      ...settings.tls,
    };
    if (options.will) opts.will = { ...options.will, qos: 1, retain: true };
    // The keys, when set, win over credentials in the URL.
    if (settings.username !== undefined) opts.username = settings.username;
    if (settings.password !== undefined) opts.password = settings.password;
    this.client = connect(opts);
    this.client.on("connect", () => this.onConnect());
    this.client.on("close", () => this.onClose());
    this.client.on("error", (err) => {
      this.lastError = err.message;
    });
    const other = options.other;
    this.client.on("message", (topic, payload) => {
      const fixed = topics.get(topic);
      if (fixed) fixed(payload);
      else other?.(topic, payload);
    });
  }

  get connected(): boolean {
    return this.up;
  }

  /** Connected and subscribed: events reach this instance. */
  get ready(): boolean {
    return this.subscribed;
  }

  /** Bumped on each connect, so that a late answer about an earlier connection is ignored. */
  get generation(): number {
    return this.connections;
  }

  /** For /readyz: undefined when ready, else why not. */
  notReady(): string | undefined {
    if (this.subscribed) return undefined;
    if (this.up)
      return `mqtt: connected to ${this.url}, not subscribed${this.lastError ? `: ${this.lastError}` : " yet"}`;
    return `mqtt: not connected to broker ${this.url}${this.lastError ? `: ${this.lastError}` : ""}`;
  }

  get unsentBytes(): number {
    return this.client.stream?.writableLength ?? 0;
  }

  onceWritable(fn: () => void): void {
    // Node streams call "writable again" 'drain'.
    this.client.stream.once("drain", fn);
  }

  publish(topic: string, payload: string, qos: Qos, done?: (err?: Error) => void): void {
    this.client.publish(topic, payload, PUBLISH_OPTIONS[qos], done);
  }

  /** A retained message at QoS 1 (a status that later subscribers must see too). */
  publishRetained(topic: string, payload: string): void {
    this.client.publish(topic, payload, { qos: 1, retain: true });
  }

  /**
   * Subscribes to more topics on the current connection, in one SUBSCRIBE; done gets the topics the
   * broker refused, or the error. A clean session forgets them: the caller subscribes again on
   * each connection (onConnected).
   */
  subscribe(topics: readonly string[], qos: Qos, done: (err: Error | undefined, refused: string[]) => void): void {
    const wanted: Record<string, { qos: Qos }> = {};
    for (const t of topics) wanted[t] = { qos };
    this.client.subscribe(wanted, (err, granted) => {
      done(
        err ?? undefined,
        (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic),
      );
    });
  }

  /** Unsubscribes from topics subscribe() took, in one UNSUBSCRIBE. */
  unsubscribe(topics: readonly string[]): void {
    this.client.unsubscribe(topics as string[]);
  }

  private onConnect(): void {
    const gen = ++this.connections;
    this.up = true;
    this.lastError = undefined;
    if (gen > 1) this.options.reconnects.inc();
    const { log, topics, settings } = this.options;
    log.info("mqtt connected", { url: this.url });
    // A clean session forgets subscriptions, so every connection subscribes again.
    const wanted = Object.fromEntries([...topics.keys()].map((t) => [t, { qos: settings.qos }]));
    this.client.subscribe(wanted, (err, granted) => {
      if (gen !== this.connections || !this.up) return;
      const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
      if (err || refused.length > 0) {
        this.lastError = err
          ? `subscribe failed: ${err.message}`
          : `the broker refused the subscription to ${refused.join(", ")}`;
        log.error("mqtt subscribe failed", { url: this.url, error: this.lastError });
        return;
      }
      this.subscribed = true;
      this.attempt = 0;
    });
    this.options.onConnected();
  }

  private onClose(): void {
    const wasUp = this.up;
    this.up = false;
    this.subscribed = false;
    if (this.closing) return;
    const { log } = this.options;
    const delay = reconnectDelay(this.attempt++);
    const fields = { url: this.url, error: this.lastError, retry_ms: delay };
    if (wasUp) log.warn("mqtt connection lost; reconnecting", fields);
    else if (this.attempt === 1) log.warn("mqtt broker unreachable; retrying", fields);
    else log.debug("mqtt connect failed; retrying", fields);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (!this.closing) this.client.reconnect();
    }, delay);
  }

  /** Stops reconnecting and disconnects, after the broker acknowledged what the client holds. */
  close(): Promise<void> {
    this.closing ??= this.end();
    return this.closing;
  }

  private async end(): Promise<void> {
    if (this.retry) clearTimeout(this.retry);
    if (this.up) {
      // A graceful end waits for the broker to acknowledge QoS 1/2 activity; a broker that stops
      // answering must not hold the shutdown, so the socket goes after a while.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const gaveUp = new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), 2000);
      });
      const ended = await Promise.race([
        this.client.endAsync(false).then(
          () => true,
          () => true,
        ),
        gaveUp,
      ]);
      clearTimeout(timer);
      if (!ended) this.client.stream?.destroy();
    } else {
      await this.client.endAsync(true).catch(() => {});
    }
    this.subscribed = false;
  }
}
