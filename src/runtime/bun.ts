/**
 * The Bun adapter: the only file that touches Bun.serve. Room and world fan-out use Bun's native
 * topic pub/sub, and a ServerWebSocket is the core's PushSocket as it is.
 */
import type { Server, ServerWebSocket } from "bun";
import { type Downlink, JSON_TEXT } from "../protocol/downlink.ts";
import { pathOf } from "./path.ts";
import { type Fanout, type Listener, type ListenOptions, type SocketEvents, Upgrade } from "./types.ts";

/**
 * A socket's data: its client's IP from the upgrade until it opens, then its events handler (or
 * undefined when refused). No wrapper object: one less allocation per connection.
 */
type SocketData = string | SocketEvents | undefined;

const eventsOf = (ws: ServerWebSocket<SocketData>): SocketEvents | undefined =>
  typeof ws.data === "object" ? ws.data : undefined;

export async function listen(opts: ListenOptions): Promise<Listener> {
  const { handlers } = opts;
  const server: Server<SocketData> = Bun.serve<SocketData>({
    hostname: opts.host,
    port: opts.port,
    tls: opts.tls,
    reusePort: opts.reusePort === true,
    fetch(req, srv) {
      const answer = handlers.request(req, pathOf(req.url), () => srv.requestIP(req)?.address ?? "");
      if (!(answer instanceof Upgrade)) return answer;
      if (srv.upgrade(req, { data: answer.ip })) return undefined;
      return handlers.upgradeFailed();
    },
    error: (err) => handlers.error(err),
    websocket: {
      // The core's heartbeat decides liveness; Bun's idle timeout would cut quiet sessions.
      idleTimeout: 0,
      maxPayloadLength: opts.maxUplinkBytes,
      perMessageDeflate: false,
      // A client that does not read is terminated once this much is queued to it (the peer sees
      // 1006): a close handshake would keep the backlog in memory behind it. Native, so a room
      // broadcast still runs no JavaScript per recipient.
      backpressureLimit: opts.maxSendBuffer,
      closeOnBackpressureLimit: true,
      open(ws: ServerWebSocket<SocketData>) {
        ws.data = handlers.open(ws, typeof ws.data === "string" ? ws.data : "");
      },
      message(ws: ServerWebSocket<SocketData>, message: string | Buffer) {
        eventsOf(ws)?.onMessage(message);
      },
      // Bun answers the pong itself; the core only counts the ping against limits.uplink_rate.
      ping(ws: ServerWebSocket<SocketData>) {
        eventsOf(ws)?.onPing();
      },
      close(ws: ServerWebSocket<SocketData>, code: number, reason: string) {
        // Bun may report 1006 where the peer got 1009 (oversized frame closed by Bun itself).
        const c = code === 1006 && reason.includes("too big") ? 1009 : code;
        eventsOf(ws)?.onClosed(c, reason);
      },
    },
  });
  const fanout: Fanout = {
    publish(topic: string, frame: Downlink): void {
      server.publish(topic, frame.encoded(JSON_TEXT));
    },
  };
  return {
    port: server.port as number,
    hostname: server.hostname as string,
    fanout,
    async stop() {
      await server.stop(true);
    },
  };
}
