/**
 * A TCP proxy that behaves like the corporate proxies SSE is for: while `strip` is on, it deletes
 * the Upgrade and Connection headers from the first request of each connection (a WebSocket
 * handshake then reaches the server as a plain GET, which it answers 426), and passes everything
 * else through. `cut()` drops every connection as a network does.
 */
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class StripProxy {
  strip = true;
  /** WebSocket handshakes that went through with strip on (their Upgrade deleted). */
  stripped = 0;
  private readonly pairs = new Set<[Socket, Socket]>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async to(targetPort: number): Promise<StripProxy> {
    let proxy: StripProxy | undefined;
    const server = createServer((client) => {
      const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
      const pair: [Socket, Socket] = [client, upstream];
      proxy?.pairs.add(pair);
      const forget = () => {
        proxy?.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on("error", forget).on("close", forget);
      upstream.on("error", forget).on("close", forget);
      upstream.pipe(client);
      let head = Buffer.alloc(0);
      const first = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) return;
        client.off("data", first);
        let text = head.subarray(0, end).toString("latin1");
        if (proxy?.strip && /^upgrade:/im.test(text)) {
          text = text
            .split("\r\n")
            .filter((l) => !/^(upgrade|connection):/i.test(l))
            .join("\r\n");
          proxy.stripped++;
        }
        upstream.write(Buffer.concat([Buffer.from(text, "latin1"), head.subarray(end)]));
        client.pipe(upstream);
      };
      client.on("data", first);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    proxy = new StripProxy(server, typeof addr === "object" && addr ? addr.port : 0);
    return proxy;
  }

  get ws(): string {
    return `ws://127.0.0.1:${this.port}/comet/Comet/Subscribe`;
  }

  cut(): void {
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
