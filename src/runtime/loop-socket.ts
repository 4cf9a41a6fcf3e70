/**
 * What every socket reached by a LoopFanout (gRPC streams, SSE and NDJSON streams) does alike:
 * the topics it is in, its end, and the slow-consumer drop of the wire contract. Each transport
 * says how it writes, closes and terminates.
 */
import type { LoopFanout } from "./loop-fanout.ts";
import type { PushSocket, SocketEvents } from "./types.ts";

export abstract class LoopSocket implements PushSocket {
  /** Where this socket reports its life: set once by the gateway when it connects (bind). */
  protected events: SocketEvents | undefined;
  protected ended = false;
  private readonly topics = new Set<string>();

  constructor(
    private readonly fanout: LoopFanout,
    protected readonly maxSendBuffer: number,
  ) {}

  abstract send(data: string | Uint8Array): unknown;
  abstract close(code?: number, reason?: string): void;
  abstract terminate(): void;
  /** Called once, when the socket has ended and left its topics (a transport's own bookkeeping). */
  protected released(): void {}

  bind(events: SocketEvents): void {
    this.events = events;
  }

  subscribe(topic: string): void {
    if (this.ended) return;
    this.topics.add(topic);
    this.fanout.add(topic, this);
  }

  unsubscribe(topic: string): void {
    this.topics.delete(topic);
    this.fanout.remove(topic, this);
  }

  protected release(): void {
    this.ended = true;
    for (const t of this.topics) this.fanout.remove(t, this);
    this.topics.clear();
    this.released();
  }

  /**
   * The slow consumer of the wire contract: terminated rather than ended, which would keep the
   * backlog in memory behind it. Reported to the connection after the current fan-out loop, so a
   * broadcast never sees the hub change under it.
   */
  protected dropSlowConsumer(): void {
    this.terminate();
    queueMicrotask(() =>
      this.events?.onClosed(1006, `slow consumer: queued downlink over limits.max_send_buffer (${this.maxSendBuffer})`),
    );
  }
}
