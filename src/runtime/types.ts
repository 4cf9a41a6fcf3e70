/**
 * What the core sees of a transport. A Bun ServerWebSocket satisfies PushSocket as it is (no
 * wrapper per connection); other transports (Deno, gRPC) adapt to it.
 */
import type { Downlink, WireFormat } from "../protocol/downlink.ts";

/** Which transport carries a session; a socket without the field is a WebSocket. */
export type Transport = "websocket" | "grpc";

export interface PushSocket {
  readonly transport?: Transport;
  /** The format send() takes; a socket without the field takes JSON text. */
  readonly format?: WireFormat<string | Uint8Array>;
  /** One frame, already in this socket's format. */
  send(data: string | Uint8Array): unknown;
  close(code?: number, reason?: string): void;
  /** Drop the connection at once, without a close handshake. */
  terminate(): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** Topic fan-out: one frame to every socket subscribed to a topic. */
export interface Fanout {
  publish(topic: string, frame: Downlink): void;
}
