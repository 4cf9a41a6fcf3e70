/**
 * User activity on its way to the broker. Sent at once when the connection can take it; otherwise
 * held in a bounded queue (oldest dropped) until the broker is back or the socket writable again.
 * Counted as out when written (QoS 0) or acknowledged (QoS 1/2), and as dropped with the reason.
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Activity, ActivityName } from "../../hub/activity.ts";
import { encodeActivity } from "./event.ts";
import { BoundedQueue } from "../../util/bounded-queue.ts";
import type { Qos } from "./qos.ts";

/** What the outbox needs of the connection to the broker. */
export interface Wire {
  readonly connected: boolean;
  /** Changes with each new connection: a signal about an earlier socket is stale. */
  readonly generation: number;
  /** Bytes handed to the socket and not yet written. */
  readonly unsentBytes: number;
  /** Calls fn once the current socket has written out what it held. */
  onceWritable(fn: () => void): void;
  publish(topic: string, payload: string, qos: Qos, done?: (err?: Error) => void): void;
}

export interface OutboxOptions {
  topic: string;
  qos: Qos;
  /** The queue's capacity while the broker is away or slow. */
  capacity: number;
  /** The activity types that go out (mqtt.activity); the rest never leave. */
  types: ReadonlySet<ActivityName>;
  /** This instance's id, the `server` of its activity. */
  server: string;
  /** mqtt.cluster_key: signs every activity sent when set. */
  clusterKey?: string;
  out: Counter;
  dropped: Counter;
}

/**
 * A broker that is connected but slow to read must not make the socket buffer grow without bound:
 * past this many unsent bytes, activity waits in the bounded queue as when the broker is away.
 */
const BACKLOG_BYTES = 1 << 20;

interface Outgoing {
  /** The `type` label of the counters. */
  type: string;
  payload: string;
}

export class Outbox {
  private readonly queue: BoundedQueue<Outgoing>;
  private readonly ackedCallbacks = new Map<string, (err?: Error) => void>();
  /** The connection generation whose socket we wait on to be writable; -1 for none. */
  private awaitingWritable = -1;
  private closed = false;

  constructor(
    private readonly wire: Wire,
    private readonly options: OutboxOptions,
  ) {
    this.queue = new BoundedQueue(options.capacity);
  }

  /** Activity waiting for the broker. */
  get size(): number {
    return this.queue.size;
  }

  add(a: Activity): void {
    if (this.closed || !this.options.types.has(a.type)) return;
    this.send(a.type, encodeActivity(a, this.options.server, this.options.clusterKey));
  }

  /** An already encoded message for the topic (presence transitions), counted under type. */
  send(type: string, payload: string): void {
    if (this.closed) return;
    const out: Outgoing = { type, payload };
    // Behind a queue, activity waits its turn: per-user order is kept.
    if (this.wire.connected && this.queue.size === 0 && !this.backlogged()) this.publish(out);
    else {
      if (this.queue.push(out) > 0) this.options.dropped.inc({ reason: "queue_full" });
      if (this.wire.connected) this.flushWhenWritable();
    }
  }

  /** Sends what waited, as far as the socket takes it: on each connection and when writable again. */
  flush(): void {
    while (this.wire.connected && this.queue.size > 0) {
      if (this.backlogged()) {
        this.flushWhenWritable();
        return;
      }
      this.publish(this.queue.shift() as Outgoing);
    }
  }

  /** Drops what is still queued, counted as lost to the shutdown; nothing is taken after this. */
  close(): void {
    this.closed = true;
    const left = this.queue.clear();
    if (left > 0) this.options.dropped.inc({ reason: "shutdown" }, left);
  }

  private backlogged(): boolean {
    return this.wire.unsentBytes > BACKLOG_BYTES;
  }

  private flushWhenWritable(): void {
    const gen = this.wire.generation;
    // One listener per socket: activity arriving while it waits is already covered.
    if (this.awaitingWritable === gen) return;
    this.awaitingWritable = gen;
    this.wire.onceWritable(() => {
      if (this.awaitingWritable === gen) this.awaitingWritable = -1;
      if (gen === this.wire.generation) this.flush();
    });
  }

  private publish(item: Outgoing): void {
    const { topic, qos, out } = this.options;
    if (qos === 0) {
      // No callback at QoS 0: mqtt.js would hold one stream 'drain' listener per packet while the socket is busy.
      this.wire.publish(topic, item.payload, 0);
      out.inc({ type: item.type });
    } else {
      this.wire.publish(topic, item.payload, qos, this.acked(item.type));
    }
  }

  /** One callback per type, made once: activity is the busiest path out. */
  private acked(type: string): (err?: Error) => void {
    let cb = this.ackedCallbacks.get(type);
    if (!cb) {
      cb = (err?: Error) => {
        if (err) this.options.dropped.inc({ reason: "publish_failed" });
        else this.options.out.inc({ type });
      };
      this.ackedCallbacks.set(type, cb);
    }
    return cb;
  }
}
