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
// A server close waits until the peer has sent nothing for CLOSE_QUIET_MS, at most CLOSE_WAIT_MS.
const CLOSE_QUIET_MS = 20;
const CLOSE_WAIT_MS = 1000;

/** A Deno WebSocket as the core's PushSocket. */
class DenoSocket implements PushSocket {
  conn: Connection | undefined;
  /** Date.now() of the peer's last frame (set by the handler). */
  lastFrameAt = 0;
  private closing = false;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    private readonly ws: WebSocket,
    private readonly fanout: LoopFanout,
    private readonly maxSendBuffer: number,
  ) {}

  send(frame: string): void {
    if (this.ws.readyState !== OPEN || this.closing) return;
    // No native backpressure limit here: check the queue before adding to it.
    if (this.ws.bufferedAmount > this.maxSendBuffer) {
      this.terminate();
      return;
    }
    this.ws.send(frame);
  }

  /**
   * Deno's server socket, once it has sent its close frame, drops the TCP connection at the next
   * data frame from the peer instead of waiting for the peer's close (denoland/deno#24301), and the
   * close frame is then often never written: a client flooding past limits.uplink_rate saw 1006,
   * not 4429. So while the peer is still sending, the socket stays open and its frames are dropped
   * (the Connection is already closed); the close frame goes once the peer has been quiet for
   * CLOSE_QUIET_MS, and the peer's answer completes a clean handshake. A peer that never pauses is
   * closed after CLOSE_WAIT_MS all the same, and may see 1006.
   */
  close(code?: number, reason?: string): void {
    if (this.closing) return;
    this.closing = true;
    const deadline = Date.now() + CLOSE_WAIT_MS;
    const attempt = () => {
      const now = Date.now();
      const quietAt = Math.min(this.lastFrameAt + CLOSE_QUIET_MS, deadline);
      if (now < quietAt) this.closeTimer = setTimeout(attempt, quietAt - now);
      else this.ws.close(code, reason);
    };
    attempt();
  }

  /** The socket is closed (by either side): a close still waiting for quiet has nothing to do. */
  onSocketClosed(): void {
    clearTimeout(this.closeTimer);
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
        s.lastFrameAt = Date.now();
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
      socket.onclose = (e: CloseEvent) => {
        s.onSocketClosed();
        s.conn?.onClosed(e.code === 0 ? 1006 : e.code, e.reason);
      };
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
