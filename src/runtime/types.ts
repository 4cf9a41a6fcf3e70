/**
 * The contract between the core and a runtime (Bun, Deno) or another transport (gRPC): the one
 * file a runtime adapter imports besides the protocol. A Bun ServerWebSocket satisfies PushSocket
 * as it is (no wrapper per connection); other transports adapt to it.
 */
import type { Downlink, WireFormat } from "../protocol/downlink.ts";
import type { Decoded, Recover } from "../protocol/frames.ts";

/** Which transport carries a session; a socket without the field is a WebSocket. */
export type Transport = "websocket" | "grpc" | "sse" | "ndjson";

export const TRANSPORTS: readonly Transport[] = ["websocket", "grpc", "sse", "ndjson"];

/** A transport's name as another instance sends it (a cluster DumpSession's part). */
export const isTransport = (v: unknown): v is Transport => TRANSPORTS.includes(v as Transport);

/** What the core holds of a transport's socket. */
export interface PushSocket {
  readonly transport?: Transport;
  /**
   * Every PUSH on it carries its position, whatever the client asked (gRPC: protobuf's binary
   * format keeps fields an old client does not know). Without the field: only when asked.
   */
  readonly positions?: boolean;
  /** The format send() takes; a socket without the field takes JSON text. */
  readonly format?: WireFormat<string | Uint8Array>;
  /**
   * One frame, already in this socket's format. `compress`: worth permessage-deflate (see
   * protocol/compressible.ts); a transport without it, or a peer that did not negotiate it,
   * sends the frame as it is.
   */
  send(data: string | Uint8Array, compress?: boolean): unknown;
  close(code?: number, reason?: string): void;
  /** Drop the connection at once, without a close handshake. */
  terminate(): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /**
   * Downlink only (an HTTP stream: SSE, NDJSON): the client cannot answer a heartbeat, so the
   * sweep sends a probe after heartbeat.interval of downlink silence and never times it out
   * (a reader that is gone shows as a closed stream, one that stops reading as max_send_buffer).
   */
  readonly oneWay?: boolean;
  /** Frames written so far (oneWay sockets): the sweep sees downlink silence without a clock per send. */
  readonly sent?: number;
  /**
   * The session went live (AUTH verified, room entered) at these positions of its streams: a
   * transport that holds its answer until then (an HTTP stream, whose refusals are HTTP statuses)
   * answers now. Called before a recover's replay.
   */
  started?(at: Recover): void;
  /**
   * The gateway hands a socket that reports its own end (a slow consumer it drops, a stream the
   * client closes) the events to report it to, once, when it connects. A Bun WebSocket has no
   * need: the runtime reports for it.
   */
  bind?(events: SocketEvents): void;
}

/** What a transport tells the core of its socket (the core's Connection implements it). */
export interface SocketEvents {
  /** An uplink frame: text, or binary holding UTF-8 JSON. */
  onMessage(data: string | Uint8Array): void;
  /**
   * An uplink the transport decoded itself (a gRPC protobuf message; an HTTP stream's request
   * read as its AUTH): from here on the same path as a text frame.
   */
  onUplink(d: Decoded): void;
  /**
   * A WebSocket ping (or an unsolicited pong) came. It costs the server like a frame, so it is
   * rate limited like one, but it says nothing of the session: it does not answer a heartbeat.
   */
  onPing(): void;
  /** The socket is gone (peer closed, network lost, terminated). */
  onClosed(code: number, reason: string): void;
  /** The transport itself ends the connection with a close code (e.g. an oversized frame). */
  close(code: number, reason: string): void;
}

/** Topic fan-out: one frame to every socket subscribed to a topic. */
export interface Fanout {
  publish(topic: string, frame: Downlink): void;
}

/** The answer to a request that is to become a WebSocket, for this client address. */
export class Upgrade {
  constructor(readonly ip: string) {}
}

/**
 * The answer to a request that is an HTTP stream (SSE, NDJSON): quiet between events for up to
 * heartbeat.interval, so a runtime must not close it for idling (Bun's idle timeout is 10 s).
 */
export class Streaming {
  constructor(readonly response: Response | Promise<Response>) {}
}

/** What a runtime adapter calls for each HTTP request and each WebSocket it opens. */
export interface ServeHandlers {
  /**
   * A request's answer, or an Upgrade. `path` is the URL's path; `peer` reads the TCP peer's
   * address (only upgrades need it, so it is asked for lazily).
   */
  request(req: Request, path: string, peer: () => string): Response | Promise<Response> | Upgrade | Streaming;
  /** The answer to an Upgrade the runtime could not carry out (a malformed handshake). */
  upgradeFailed(): Response;
  /** The answer when request() threw. */
  error(err: unknown): Response;
  /** A WebSocket opened for an Upgrade; undefined when the core refused it (and closed it). */
  open(socket: PushSocket, ip: string): SocketEvents | undefined;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  handlers: ServeHandlers;
  /** limits.max_uplink_bytes: a larger WebSocket frame is closed 1009. */
  maxUplinkBytes: number;
  /** limits.max_send_buffer: a socket with more queued is dropped as a slow consumer. */
  maxSendBuffer: number;
  /**
   * websocket.compression on: negotiate permessage-deflate, and compress downlink frames of at
   * least minBytes. Only given to a runtime whose capabilities say it can.
   */
  compression?: { minBytes: number };
  /**
   * SO_REUSEPORT: the workers of one host share the port and the kernel spreads connections over
   * them. Off otherwise, so that a second instance started by mistake fails with "address in use".
   */
  reusePort?: boolean;
}

export interface Listener {
  readonly port: number;
  readonly hostname: string;
  /** How the hub reaches this listener's WebSockets by topic. */
  readonly fanout: Fanout;
  /** Closes every socket (1001) and the port. */
  stop(): Promise<void>;
  /**
   * Stops listening and keeps every open connection: the port leaves the SO_REUSEPORT group,
   * and the kernel gives new connections to the other workers. Where `workers` is a capability.
   */
  pause?(): void;
  /** Listens again on the same port, after pause(); rejects with the listen error. */
  resume?(): Promise<void>;
}

/** What a runtime can do beyond the contract; the rest of the code asks these, never the runtime's name. */
export interface Capabilities {
  /** gRPC (node:http2 with grpc-js's connection injector) is served. */
  readonly grpc: boolean;
  /** The demo page, whose assets a build-time macro embeds. */
  readonly demoPage: boolean;
  /** permessage-deflate on WebSockets (Deno.upgradeWebSocket cannot negotiate it). */
  readonly compression: boolean;
  /**
   * `workers > 1`: a supervisor and worker processes tied by an IPC pipe (Bun.spawn's), sharing
   * ports with SO_REUSEPORT. Not tried on Deno, where the start is refused.
   */
  readonly workers: boolean;
}

export interface RuntimeAdapter {
  readonly name: "bun" | "deno";
  readonly capabilities: Capabilities;
  listen(opts: ListenOptions): Promise<Listener>;
  /** A full garbage collection now, where the runtime offers one (Bun does; Deno without --expose-gc does not). */
  collectGarbage?(): void;
}
