/**
 * The Deno adapter: the only file that touches Deno.serve. Deno has no native topics, so room and
 * world fan-out loop over the subscribed sockets (LoopFanout); everything else is the same core.
 */
import type { Connection } from "../gateway/connection.ts";
import { pathOf, SUBSCRIBE_PATHS } from "../http/routes.ts";
import { Close } from "../protocol/codes.ts";
import type { Listener, ListenOptions } from "./listen.ts";
import { LoopFanout } from "./loop-fanout.ts";
import type { PushSocket } from "./types.ts";

const OPEN = 1;

/** A Deno WebSocket as the core's PushSocket. */
class DenoSocket implements PushSocket {
  conn: Connection | undefined;
  constructor(
    private readonly ws: WebSocket,
    private readonly fanout: LoopFanout,
    private readonly maxSendBuffer: number,
  ) {}

  send(frame: string): void {
    if (this.ws.readyState !== OPEN) return;
    // No native backpressure limit here: check the queue before adding to it.
    if (this.ws.bufferedAmount > this.maxSendBuffer) {
      this.terminate();
      return;
    }
    this.ws.send(frame);
  }

  close(code?: number, reason?: string): void {
    this.ws.close(code, reason);
  }

  /** Deno cannot drop a WebSocket without a close frame; close at once and forget the backlog. */
  terminate(): void {
    this.conn?.onClosed(1006, "slow consumer over limits.max_send_buffer");
    try {
      this.ws.close();
    } catch {
      // already closing
    }
  }

  subscribe(topic: string): void {
    this.fanout.add(topic, this);
  }

  unsubscribe(topic: string): void {
    this.fanout.remove(topic, this);
  }
}

const normalizeIp = (ip: string): string => (ip.startsWith("::ffff:") ? ip.slice(7) : ip);

export function createFanout(): LoopFanout {
  return new LoopFanout();
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const { gateway, routes } = opts;
  const fanout = opts.fanout as LoopFanout;
  const maxUplink = gateway.config.limits.max_uplink_bytes;
  const maxSend = gateway.config.limits.max_send_buffer;
  const encoder = new TextEncoder();

  const handler = (req: Request, info: Deno.ServeHandlerInfo): Response | Promise<Response> => {
    if (SUBSCRIBE_PATHS.has(pathOf(req.url)) && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      const admitted = gateway.admit(req, normalizeIp(info.remoteAddr.hostname));
      if (admitted instanceof Response) return admitted;
      // The gateway's heartbeat decides liveness; Deno's idle timeout would close quiet sessions.
      const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
      socket.binaryType = "arraybuffer";
      const s = new DenoSocket(socket, fanout, maxSend);
      socket.onopen = () => {
        s.conn = gateway.open(s, admitted.ip);
      };
      socket.onmessage = (e: MessageEvent) => {
        const data = e.data as string | ArrayBuffer;
        const size =
          typeof data === "string" ? (data.length * 3 <= maxUplink ? 0 : encoder.encode(data).length) : data.byteLength;
        if (size > maxUplink) {
          s.conn?.close(Close.TooBig, "uplink frame larger than limits.max_uplink_bytes");
          return;
        }
        s.conn?.onMessage(typeof data === "string" ? data : new Uint8Array(data));
      };
      // Deno reports a connection that ended without a close frame as code 0; the protocol (and
      // Bun) call that 1006.
      socket.onclose = (e: CloseEvent) => s.conn?.onClosed(e.code === 0 ? 1006 : e.code, e.reason);
      socket.onerror = () => {};
      return response;
    }
    return routes(req);
  };

  let resolveListening: (addr: Deno.NetAddr) => void = () => {};
  const listening = new Promise<Deno.NetAddr>((r) => {
    resolveListening = r;
  });
  const server = Deno.serve({
    hostname: opts.host,
    port: opts.port,
    cert: opts.tls?.cert,
    key: opts.tls?.key,
    onListen: (addr) => resolveListening(addr),
    onError: (err) => {
      gateway.log.error("http handler failed", { error: String(err) });
      return Response.json(
        { id: "comet.internal", code: 500, detail: "internal error", status: "Internal Server Error" },
        { status: 500 },
      );
    },
    handler,
  });
  const addr = await listening;
  return {
    port: addr.port,
    hostname: addr.hostname,
    async stop() {
      for (const c of gateway.connections) c.close(Close.GoingAway, "server stopping");
      await server.shutdown();
    },
  };
}
