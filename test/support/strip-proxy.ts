/**
 * A TCP proxy that behaves like the corporate proxies SSE is for: while `strip` is on, it deletes
 * the Upgrade and Connection headers from the first request of each connection (a WebSocket
 * handshake then reaches the server as a plain GET, which it answers 426), and passes everything
 * else through. `cut()` drops every connection as a network does.
 */
import type { Socket } from "node:net";
import { CutProxy } from "./cut-proxy.ts";

export class StripProxy {
  strip = true;
  /** WebSocket handshakes that went through with strip on (their Upgrade deleted). */
  stripped = 0;
  private proxy: CutProxy | undefined;

  static async to(targetPort: number): Promise<StripProxy> {
    const self = new StripProxy();
    self.proxy = await CutProxy.to(targetPort, (client, upstream) => self.relay(client, upstream));
    return self;
  }

  /** The first request's head, rewritten while `strip` is on; then everything as it comes. */
  private relay(client: Socket, upstream: Socket): void {
    let head = Buffer.alloc(0);
    const first = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return;
      client.off("data", first);
      let text = head.subarray(0, end).toString("latin1");
      if (this.strip && /^upgrade:/im.test(text)) {
        text = text
          .split("\r\n")
          .filter((l) => !/^(upgrade|connection):/i.test(l))
          .join("\r\n");
        this.stripped++;
      }
      upstream.write(Buffer.concat([Buffer.from(text, "latin1"), head.subarray(end)]));
      client.pipe(upstream);
    };
    client.on("data", first);
  }

  get port(): number {
    return (this.proxy as CutProxy).port;
  }

  get ws(): string {
    return (this.proxy as CutProxy).ws;
  }

  cut(): void {
    this.proxy?.cut();
  }

  async close(): Promise<void> {
    await this.proxy?.close();
  }
}
