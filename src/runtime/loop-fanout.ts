/**
 * Fan-out by a loop over a set of sockets per topic: for transports without native topics (Deno's
 * WebSockets, gRPC streams). On Bun it runs beside the native publish, never instead of it.
 */
import { type Downlink, JSON_TEXT } from "../protocol/downlink.ts";
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

  /** Each socket gets the frame in its own format, encoded once per format (see Downlink). */
  publish(topic: string, frame: Downlink): void {
    const set = this.topics.get(topic);
    if (!set) return;
    for (const s of set) s.send(frame.encoded(s.format ?? JSON_TEXT));
  }

  /** How many sockets a topic reaches here (tests, metrics). */
  size(topic: string): number {
    return this.topics.get(topic)?.size ?? 0;
  }
}
