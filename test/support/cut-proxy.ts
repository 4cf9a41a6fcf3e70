/**
 * A TCP proxy in the test process between a client and a server, so that a test can cut a
 * connection as a network does: both TCP sockets destroyed, no close frame either way, and what was
 * in flight lost. Works whatever runtime the server runs on.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class CutProxy {
  private readonly pairs = new Set<[Socket, Socket]>();
  /** While true, a new connection is dropped at once, as an unreachable network would. */
  down = false;
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /**
   * A proxy to 127.0.0.1:targetPort (or the port the function answers, per connection) on a port of its own. `relay` carries the client's bytes
   * upstream (as they are, by default; strip-proxy.ts rewrites a handshake on the way).
   */
  static async to(
    targetPort: number | (() => number),
    relay: (client: Socket, upstream: Socket) => void = (client, upstream) => client.pipe(upstream),
  ): Promise<CutProxy> {
    let proxy: CutProxy | undefined;
    const server = createServer((client) => {
      if (proxy?.down) {
        client.destroy();
        return;
      }
      // A function: asked at each connection (a test that sends each reconnect to another server).
      const port = typeof targetPort === "number" ? targetPort : targetPort();
      const upstream = createConnection({ host: "127.0.0.1", port });
      const pair: [Socket, Socket] = [client, upstream];
      proxy?.pairs.add(pair);
      const forget = () => {
        proxy?.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", forget).on("close", forget);
      upstream.on("error", forget).on("close", forget);
      relay(client, upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    proxy = new CutProxy(server, typeof addr === "object" && addr ? addr.port : 0);
    return proxy;
  }

  /** The WebSocket URL of the subscribe path through the proxy. */
  get ws(): string {
    return `ws://127.0.0.1:${this.port}/comet/Comet/Subscribe`;
  }

  /**
   * Cuts every connection through the proxy: both sockets destroyed, nothing more goes either way.
   * `down`: and new connections fail until `down` is set false again.
   */
  cut(down = false): void {
    this.down = down;
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}
