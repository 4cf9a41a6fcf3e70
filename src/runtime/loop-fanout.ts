/**
 * Fan-out by a loop over a set of sockets per topic: for transports without native topics (Deno's
 * WebSockets, gRPC streams). On Bun it runs beside the native publish, never instead of it.
 */
import type { Fanout, PushSocket } from "./types.ts";

export class LoopFanout implements Fanout {
  private readonly topics = new Map<string, Set<PushSocket>>();

  add(topic: string, socket: PushSocket): void {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(socket);
  }

  remove(topic: string, socket: PushSocket): void {
    const set = this.topics.get(topic);
    if (!set) return;
    set.delete(socket);
    if (set.size === 0) this.topics.delete(topic);
  }

  publish(topic: string, frame: string): void {
    const set = this.topics.get(topic);
    if (!set) return;
    for (const s of set) s.send(frame);
  }

  /** How many sockets a topic reaches here (tests, metrics). */
  size(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }
}

/** One publish reaching both fan-outs: the native one first, so WebSocket latency is unchanged. */
export function bothFanouts(native: Fanout, loop: Fanout): Fanout {
  return {
    publish(topic: string, frame: string): void {
      native.publish(topic, frame);
      loop.publish(topic, frame);
    },
  };
}
