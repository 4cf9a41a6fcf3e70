/**
 * The broker subscriptions of mqtt.routing: one per topic this instance needs, however many local
 * holders it has (reference counts), asked for in batches. A topic whose last holder goes lingers
 * for a second before it is unsubscribed, so that a user who reconnects (or a room that empties
 * and fills again) costs no UNSUBSCRIBE/SUBSCRIBE pair; a reconnect storm of thousands of users
 * becomes a few SUBSCRIBE packets, each hold and release O(1).
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Logger } from "../../log.ts";
import type { Qos } from "../wire/qos.ts";

/** What the subscriptions need of the connection to the broker (link.ts). */
export interface SubscribeWire {
  readonly connected: boolean;
  /** Changes with each new connection: an answer about an earlier one is stale. */
  readonly generation: number;
  subscribe(topics: readonly string[], qos: Qos, done: (err: Error | undefined, refused: string[]) => void): void;
  unsubscribe(topics: readonly string[]): void;
}

export interface SubscriptionOptions {
  qos: Qos;
  /** SUBSCRIBE and UNSUBSCRIBE packets sent, by type. */
  packets: Counter;
  /** Topics the broker refused (an ACL that does not allow them). */
  refused: Counter;
  log: Logger;
  /** How long an unheld topic stays subscribed; 1 s (docs/protocol.md). */
  lingerMs?: number;
  /** How long holds are gathered before one SUBSCRIBE goes. */
  batchMs?: number;
}

/** Topics per SUBSCRIBE or UNSUBSCRIBE: a reconnect storm fills few packets, none of them huge. */
export const TOPICS_PER_PACKET = 1000;
const LINGER_MS = 1000;
const BATCH_MS = 10;

interface Entry {
  holders: number;
  /** Asked for on the current connection (whether or not acknowledged yet). */
  asked: boolean;
  /** When the last holder went (ms); 0 while held. */
  idleSince: number;
}

export class Subscriptions {
  private readonly entries = new Map<string, Entry>();
  /** Held, not yet asked for on this connection. */
  private readonly toAsk = new Set<string>();
  /** Asked for and unheld: unsubscribed once they have lingered long enough. */
  private readonly idle = new Set<string>();
  private unacknowledged = 0;
  private batchTimer: ReturnType<typeof setTimeout> | undefined;
  private lingerTimer: ReturnType<typeof setInterval> | undefined;
  private readonly lingerMs: number;
  private readonly batchMs: number;

  constructor(
    private readonly wire: SubscribeWire,
    private readonly options: SubscriptionOptions,
  ) {
    this.lingerMs = options.lingerMs ?? LINGER_MS;
    this.batchMs = options.batchMs ?? BATCH_MS;
  }

  /** Topics held or lingering: what this instance is (or is about to be) subscribed to. */
  get size(): number {
    return this.entries.size;
  }

  /** Topics held whose subscription the broker has not acknowledged yet (not asked, or asked). */
  get pending(): number {
    return this.toAsk.size + this.unacknowledged;
  }

  hold(topic: string): void {
    const e = this.entries.get(topic);
    if (e) {
      if (e.holders++ === 0) {
        e.idleSince = 0;
        this.idle.delete(topic);
        if (!e.asked) this.ask(topic);
      }
      return;
    }
    this.entries.set(topic, { holders: 1, asked: false, idleSince: 0 });
    this.ask(topic);
  }

  release(topic: string): void {
    const e = this.entries.get(topic);
    if (!e || e.holders === 0 || --e.holders > 0) return;
    if (!e.asked) {
      // Never reached the broker: nothing to undo.
      this.toAsk.delete(topic);
      this.entries.delete(topic);
      return;
    }
    e.idleSince = Date.now();
    this.idle.add(topic);
    this.lingerTimer ??= setInterval(() => this.sweep(), Math.max(10, this.lingerMs / 4));
  }

  /** A new connection (a clean session: the broker forgot everything): asks again for every held topic. */
  connected(): void {
    this.unacknowledged = 0;
    for (const [topic, e] of this.entries) {
      if (e.holders === 0) {
        this.entries.delete(topic);
        continue;
      }
      e.asked = false;
      this.toAsk.add(topic);
    }
    this.idle.clear();
    this.stopLinger();
    this.flush();
  }

  close(): void {
    if (this.batchTimer) clearTimeout(this.batchTimer);
    this.batchTimer = undefined;
    this.stopLinger();
  }

  private ask(topic: string): void {
    this.toAsk.add(topic);
    this.batchTimer ??= setTimeout(() => {
      this.batchTimer = undefined;
      this.flush();
    }, this.batchMs);
  }

  private flush(): void {
    // Disconnected: connected() asks for everything held once the broker is back.
    if (!this.wire.connected || this.toAsk.size === 0) return;
    const { qos, packets } = this.options;
    const gen = this.wire.generation;
    let batch: string[] = [];
    const send = (topics: string[]) => {
      this.unacknowledged += topics.length;
      packets.inc({ type: "subscribe" });
      this.wire.subscribe(topics, qos, (err, refused) => this.answered(gen, topics, err, refused));
    };
    for (const topic of this.toAsk) {
      (this.entries.get(topic) as Entry).asked = true;
      batch.push(topic);
      if (batch.length === TOPICS_PER_PACKET) {
        send(batch);
        batch = [];
      }
    }
    if (batch.length > 0) send(batch);
    this.toAsk.clear();
  }

  private answered(gen: number, topics: string[], err: Error | undefined, refused: string[]): void {
    // An answer about an earlier connection: connected() has asked again since.
    if (gen !== this.wire.generation) return;
    this.unacknowledged -= topics.length;
    if (err) {
      // The connection is going: the next one asks again for all of them.
      this.options.log.warn("mqtt: routed subscribe failed", { topics: topics.length, error: err.message });
      return;
    }
    if (refused.length > 0) {
      this.options.refused.inc({}, refused.length);
      this.options.log.error("mqtt: the broker refused routed subscriptions (check its ACL for <events_topic>/#)", {
        topics: refused.length,
        first: refused[0],
      });
    }
  }

  /** Unsubscribes topics unheld for the linger, in batches. */
  private sweep(): void {
    const due = Date.now() - this.lingerMs;
    const out: string[] = [];
    for (const topic of this.idle) {
      const e = this.entries.get(topic) as Entry;
      // In the order they went idle (a topic held again leaves the set, and enters at the end).
      if (e.idleSince > due) break;
      this.idle.delete(topic);
      this.entries.delete(topic);
      out.push(topic);
    }
    if (this.idle.size === 0) this.stopLinger();
    // Disconnected: the broker forgot them already.
    if (out.length === 0 || !this.wire.connected) return;
    for (let i = 0; i < out.length; i += TOPICS_PER_PACKET) {
      this.options.packets.inc({ type: "unsubscribe" });
      this.wire.unsubscribe(out.slice(i, i + TOPICS_PER_PACKET));
    }
  }

  private stopLinger(): void {
    if (this.lingerTimer) clearInterval(this.lingerTimer);
    this.lingerTimer = undefined;
  }
}
