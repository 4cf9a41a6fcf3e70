/**
 * The gRPC port's TCP side, kept by us rather than by grpc-js: connections are handed to the
 * gRPC server one by one (its connection injector), so that a connection holding no call can be
 * closed. grpc-js alone keeps a connection that never speaks HTTP/2, or never opens a call,
 * for ever; under Bun its own idle timeout does not close one either.
 */
import net from "node:net";
import type { Counter } from "../metrics/registry.ts";

interface Tracked {
  socket: net.Socket;
  openedAt: number;
  /** Subscribe streams open on it. */
  streams: number;
  /** When a call last started or ended on it; 0 = never. */
  lastCall: number;
}

/**
 * Once Bun's node:http2 has taken a socket over, destroy() and end() on it no longer close the
 * connection; a reset does. No call is open on a connection cut here, so nothing is lost.
 */
function cut(socket: net.Socket): void {
  socket.resetAndDestroy();
}

export interface TcpRules {
  /** A connection that opened no call this long after it came is closed. */
  firstCallWithin: number;
  /** A connection with no stream open and no call for this long is closed. */
  idle: number;
}

export class TcpGuard {
  private readonly tracked = new Map<string, Tracked>();
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly rules: TcpRules,
    private readonly closedBy: Counter,
  ) {
    const every = Math.max(5, Math.min(1000, Math.floor(rules.firstCallWithin / 4)));
    this.timer = setInterval(() => this.sweep(Date.now()), every);
    this.timer.unref?.();
  }

  /** The key grpc-js's call.getPeer() gives for a call on this socket. */
  static keyOf(socket: net.Socket): string {
    return `${socket.remoteAddress}:${socket.remotePort}`;
  }

  add(socket: net.Socket): void {
    const key = TcpGuard.keyOf(socket);
    this.tracked.set(key, { socket, openedAt: Date.now(), streams: 0, lastCall: 0 });
    socket.once("close", () => {
      if (this.tracked.get(key)?.socket === socket) this.tracked.delete(key);
    });
  }

  /** A unary call on the connection of this peer. */
  touch(peer: string): void {
    const t = this.tracked.get(peer);
    if (t) t.lastCall = Date.now();
  }

  streamOpened(peer: string): void {
    const t = this.tracked.get(peer);
    if (!t) return;
    t.streams++;
    t.lastCall = Date.now();
  }

  streamClosed(peer: string): void {
    const t = this.tracked.get(peer);
    if (!t) return;
    t.streams = Math.max(0, t.streams - 1);
    t.lastCall = Date.now();
  }

  get size(): number {
    return this.tracked.size;
  }

  sweep(now: number): void {
    for (const t of this.tracked.values()) {
      if (t.streams > 0) continue;
      if (t.lastCall === 0 && now - t.openedAt > this.rules.firstCallWithin) {
        this.closedBy.inc({ reason: "no_call" });
        cut(t.socket);
      } else if (t.lastCall !== 0 && now - t.lastCall > this.rules.idle) {
        this.closedBy.inc({ reason: "idle" });
        cut(t.socket);
      }
    }
  }

  /** Cuts every connection still open (the last step of a stop). */
  destroyAll(): void {
    for (const t of this.tracked.values()) cut(t.socket);
    this.tracked.clear();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** A TCP server on host:port whose connections go to `take`. Rejects with the listen error. */
export function listenTcp(
  host: string,
  port: number,
  take: (s: net.Socket) => void,
  reusePort = false,
): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, take);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    // reusePort: the workers of one host share the gRPC port as they share the HTTP one.
    server.listen({ host, port, reusePort }, () => {
      server.off("error", reject);
      resolve(server);
    });
  });
}
