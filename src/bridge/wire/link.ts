/**
 * The connection to the broker: connects, reconnects with backoff when it is lost, subscribes again
 * on every connection, and tells /readyz why it is not ready. The broker being away is a state
 * here, never an error that stops the instance.
 */
import type { Qos } from "./qos.ts";
import { randomBytes } from "node:crypto";
import type { connect, IClientOptions, MqttClient } from "mqtt";
import type { Counter } from "../../metrics/registry.ts";
import type { Logger } from "../../log.ts";
import { type BackoffOptions, backoffDelay } from "../../protocol/backoff.ts";
import type { Wire } from "./outbox.ts";
import { type BrokerSocket, type OnPublish, tapPublishes } from "./publish-tap.ts";
import type { StatusMessage } from "../cluster/servers.ts";
import { type BridgeSettings, brokerAddress, showUrl } from "../settings.ts";

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

/**
 * Puts publish-tap.ts under mqtt.js. mqtt.js builds each connection's socket with a function it
 * keeps in a field its types call private; when that field is not there (a future mqtt.js), the
 * bridge stays correct, only slower, and says so (false).
 */
function tapBrokerStream(client: MqttClient, onPublish: OnPublish): boolean {
  const c = client as unknown as { streamBuilder?: (client: MqttClient) => BrokerSocket };
  const build = c.streamBuilder;
  if (typeof build !== "function") return false;
  c.streamBuilder = (client) => tapPublishes(build(client), onPublish);
  return true;
}

export interface LinkOptions {
  /** The broker URL, credentials included. */
  url: string;
  settings: Pick<BridgeSettings, "username" | "password" | "tls" | "qos">;
  /** The Last Will of each connection, made afresh before it connects. */
  will?: () => StatusMessage;
  /** Published (and acknowledged, within the shutdown's wait) before a graceful disconnect. */
  goodbye?: () => StatusMessage;
  reconnects: Counter;
  log: Logger;
  /** mqtt.js's connect: loaded by the bridge's start (mqtt.js stays out of memory without a bridge). */
  connect: typeof connect;
}

/**
 * Who reads a topic's messages. `retained`: the broker sent the message from its store because a
 * subscription was made (MQTT 3.1.1 §3.3.1.3), not because someone published it just now.
 */
export type TopicReader = (payload: Buffer, retained: boolean) => void;
export type FilterReader = (topic: string, payload: Buffer) => void;
export type OtherReader = (topic: string, payload: Buffer, retained: boolean) => void;

/** MQTT topic matching for filters whose wildcards are single levels (`+`). */
function matches(filter: readonly string[], levels: readonly string[]): boolean {
  if (filter.length !== levels.length) return false;
  for (let i = 0; i < filter.length; i++) if (filter[i] !== "+" && filter[i] !== levels[i]) return false;
  return true;
}

export class BrokerLink implements Wire {
  /** The broker URL with any password hidden. */
  readonly url: string;
  // Made by start(), which the bridge calls in the tick that made the link: nothing reaches it before.
  private client!: MqttClient;
  private up = false;
  private subscribed = false;
  private connections = 0;
  private attempt = 0;
  private lastError: string | undefined;
  private retry: ReturnType<typeof setTimeout> | undefined;
  private closing: Promise<void> | undefined;
  /** Whether PUBLISH packets are read by publish-tap.ts (true unless mqtt.js changed shape). */
  fastPath = false;

  /** What to subscribe to on every connection, and who reads each topic's messages. */
  private readonly topics = new Map<string, TopicReader>();
  /** Filters with single-level wildcards (`comet/servers/+`), subscribed to as well. */
  private readonly filters = new Map<string, FilterReader>();
  /** Who reads messages on topics neither in `topics` nor matched by `filters`: those of subscribe(). */
  private other: OtherReader | undefined;
  /** Called on every connection once the subscriptions are asked for: what waited may go. */
  private readonly connectedHooks: Array<() => void> = [];

  /** Made without connecting: the parts of the bridge say what they read (read, readFilter, ...), then start(). */
  constructor(private readonly options: LinkOptions) {
    this.url = showUrl(options.url);
  }

  /** Subscribes to topic on every connection; reader gets its messages. Before start(). */
  read(topic: string, reader: TopicReader): void {
    this.topics.set(topic, reader);
  }

  /** Subscribes to a filter with `+` wildcards on every connection. Before start(). */
  readFilter(filter: string, reader: FilterReader): void {
    this.filters.set(filter, reader);
  }

  /** Reads what matches no topic and no filter (the topics of subscribe()). Before start(). */
  readOther(reader: OtherReader): void {
    this.other = reader;
  }

  /** Called on every connection once the subscriptions are asked for, in the order added. */
  whenConnected(hook: () => void): void {
    this.connectedHooks.push(hook);
  }

  /** Connects, and reconnects with backoff from then on. */
  start(): void {
    const { options } = this;
    const { url, settings } = options;
    const topics = this.topics;
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
      // mqtt.js logs through `debug` about ten times per packet, arguments built each time even
      // when nobody listens: a measurable share of MQTT ingest. Our own log says what matters.
      log: () => {},
      // Connected below, once the PUBLISH fast path is in place.
      manualConnect: true,
      ...brokerAddress(url),
      ...settings.tls,
    };
    // The keys, when set, win over credentials in the URL.
    if (settings.username !== undefined) opts.username = settings.username;
    if (settings.password !== undefined) opts.password = settings.password;
    if (options.will) opts.will = options.will();
    this.client = options.connect(opts);
    const filters = [...this.filters].map(([f, read]) => [f.split("/"), read] as const);
    // What every filter's topics start with (up to its first wildcard): a routed topic's Event,
    // the busy case, is told apart without splitting its topic.
    const prefixes = [...this.filters.keys()].map((f) => (f.includes("+") ? f.slice(0, f.indexOf("+")) : f));
    const mayMatch = (topic: string): boolean => {
      for (const p of prefixes) if (topic.startsWith(p)) return true;
      return false;
    };
    const other = this.other;
    // Both ways in (the fast path and mqtt.js) end here.
    const deliver = (topic: string, payload: Buffer, retained: boolean) => {
      const exact = topics.get(topic);
      if (exact) {
        exact(payload, retained);
        return;
      }
      let matched = false;
      if (mayMatch(topic)) {
        const levels = topic.split("/");
        for (const [filter, read] of filters) {
          if (matches(filter, levels)) {
            matched = true;
            read(topic, payload);
          }
        }
      }
      if (!matched) other?.(topic, payload, retained);
    };
    this.fastPath = tapBrokerStream(this.client, deliver);
    this.client.on("connect", () => this.onConnect());
    this.client.on("close", () => this.onClose());
    this.client.on("error", (err) => {
      this.lastError = err.message;
    });
    // What the fast path leaves to mqtt.js (QoS 2, or every PUBLISH when it could not be set up).
    this.client.on("message", (topic, payload, packet) => deliver(topic, payload, packet.retain));
    this.client.connect();
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

  /** A retained status (comet/servers/<id>); dropped while disconnected, as the next connection sends its own. */
  publishRetained(m: StatusMessage | { topic: string; payload: string; qos: 1; retain: true }): void {
    if (!this.up) return;
    this.client.publish(m.topic, m.payload, { qos: m.qos, retain: true });
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
    const { log, settings } = this.options;
    const topics = this.topics;
    log.info("mqtt connected", { url: this.url, publish_fast_path: this.fastPath });
    // A clean session forgets subscriptions, so every connection subscribes again.
    const filters = [...this.filters.keys()];
    const wanted = Object.fromEntries([...topics.keys(), ...filters].map((t) => [t, { qos: settings.qos }]));
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
    for (const hook of this.connectedHooks) hook();
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
      if (this.closing) return;
      // Each connection has its own will: its time tells the others which connection it ends.
      if (this.options.will) this.client.options.will = this.options.will();
      this.client.reconnect();
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
      if (this.options.goodbye) this.publishRetained(this.options.goodbye());
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
