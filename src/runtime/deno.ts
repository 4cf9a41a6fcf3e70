/**
 * The Deno adapter: the only file that touches Deno.serve. Deno has no native topics, so room and
 * world fan-out loop over the subscribed sockets (LoopFanout); everything else is the same core.
 */
import { Close } from "../protocol/codes.ts";
import { LoopFanout } from "./loop-fanout.ts";
import { pathOf } from "./path.ts";
import { type Listener, type ListenOptions, type PushSocket, type SocketEvents, Streaming, Upgrade } from "./types.ts";

const OPEN = 1;
// A server close waits until the peer has sent nothing for CLOSE_QUIET_MS, at most CLOSE_WAIT_MS.
const CLOSE_QUIET_MS = 20;
const CLOSE_WAIT_MS = 1000;

/** A Deno WebSocket as the core's PushSocket. */
class DenoSocket implements PushSocket {
  events: SocketEvents | undefined;
  /** Date.now() of the peer's last frame (set by the handler). */
  lastFrameAt = 0;
  private closing = false;
  private closeTimer: ReturnType<typeof setTimeout> | undefined;
  constructor(
    private readonly ws: WebSocket,
    private readonly fanout: LoopFanout,
    private readonly maxSendBuffer: number,
  ) {}

  /** Deno sockets take JSON text (the default format), never bytes. */
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
    this.events?.onClosed(1006, "slow consumer over limits.max_send_buffer");
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

export async function listen(opts: ListenOptions): Promise<Listener> {
  const { handlers, maxUplinkBytes, maxSendBuffer } = opts;
  const fanout = new LoopFanout();
  const open = new Set<DenoSocket>();
  const encoder = new TextEncoder();

  const upgrade = (req: Request, ip: string): Response => {
    // The core's heartbeat decides liveness; Deno's idle timeout would close quiet sessions.
    const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: 0 });
    socket.binaryType = "arraybuffer";
    const s = new DenoSocket(socket, fanout, maxSendBuffer);
    socket.onopen = () => {
      open.add(s);
      s.events = handlers.open(s, ip);
    };
    socket.onmessage = (e: MessageEvent) => {
      s.lastFrameAt = Date.now();
      const data = e.data as string | ArrayBuffer;
      const size =
        typeof data === "string"
          ? data.length * 3 <= maxUplinkBytes
            ? 0
            : encoder.encode(data).length
          : data.byteLength;
      if (size > maxUplinkBytes) {
        s.events?.close(Close.TooBig, "uplink frame larger than limits.max_uplink_bytes");
        return;
      }
      s.events?.onMessage(typeof data === "string" ? data : new Uint8Array(data));
    };
    // Deno reports a connection that ended without a close frame as code 0; the protocol (and
    // Bun) call that 1006.
    socket.onclose = (e: CloseEvent) => {
      open.delete(s);
      s.onSocketClosed();
      s.events?.onClosed(e.code === 0 ? 1006 : e.code, e.reason);
    };
    socket.onerror = () => {};
    return response;
  };

  const handler = (req: Request, info: Deno.ServeHandlerInfo): Response | Promise<Response> => {
    const answer = handlers.request(req, pathOf(req.url), () => info.remoteAddr.hostname);
    // Deno.serve closes no response for idling: a stream needs nothing more.
    if (answer instanceof Streaming) return answer.response;
    if (!(answer instanceof Upgrade)) return answer;
    try {
      return upgrade(req, answer.ip);
    } catch {
      return handlers.upgradeFailed();
    }
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
    onError: (err) => handlers.error(err),
    handler,
  });
  const addr = await listening;
  return {
    port: addr.port,
    hostname: addr.hostname,
    fanout,
    async stop() {
      for (const s of open) s.events?.close(Close.GoingAway, "server stopping");
      await server.shutdown();
    },
  };
}
