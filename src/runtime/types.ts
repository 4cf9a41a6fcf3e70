/**
 * What the core sees of a transport. A Bun ServerWebSocket satisfies PushSocket as it is (no
 * wrapper per connection); other transports (Deno, gRPC) adapt to it.
 */
/** Which transport carries a session; a socket without the field is a WebSocket. */
export type Transport = "websocket" | "grpc";

export interface PushSocket {
  readonly transport?: Transport;
  send(frame: string): unknown;
  close(code?: number, reason?: string): void;
  /** Drop the connection at once, without a close handshake. */
  terminate(): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
}

/** Topic fan-out: one frame to every socket subscribed to a topic. */
export interface Fanout {
  publish(topic: string, frame: string): void;
}
