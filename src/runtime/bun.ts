/**
 * The Bun adapter: the only file that touches Bun.serve. Room and world fan-out use Bun's native
 * topic pub/sub, and a ServerWebSocket is the core's PushSocket as it is.
 */
import type { Server, ServerWebSocket } from "bun";
import type { Connection } from "../gateway/connection.ts";
import { SUBSCRIBE_PATHS, pathOf } from "../http/routes.ts";
import type { Listener, ListenOptions } from "./listen.ts";
import { type Downlink, JSON_TEXT } from "../protocol/downlink.ts";
import type { Fanout } from "./types.ts";

/**
 * A socket's data: its client's IP from the upgrade until it opens, then its Connection (or
 * undefined when refused). No wrapper object: one less allocation per connection.
 */
type SocketData = string | Connection | undefined;

const connOf = (ws: ServerWebSocket<SocketData>): Connection | undefined =>
  typeof ws.data === "object" ? ws.data : undefined;

/** A fan-out whose server is attached once listening (the hub is built before the server). */
export class BunFanout implements Fanout {
  server: Server<SocketData> | undefined;
  publish(topic: string, frame: Downlink): void {
    this.server?.publish(topic, frame.encoded(JSON_TEXT));
  }
}

export const normalizeIp = (ip: string): string => (ip.startsWith("::ffff:") ? ip.slice(7) : ip);

export function createFanout(): BunFanout {
  return new BunFanout();
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const { gateway, routes } = opts;
  const server = Bun.serve<SocketData>({
    hostname: opts.host,
    port: opts.port,
    tls: opts.tls,
    fetch(req, srv) {
      const path = pathOf(req.url);
      if (SUBSCRIBE_PATHS.has(path) && req.headers.get("upgrade")?.toLowerCase() === "websocket") {
        const admitted = gateway.admit(req, normalizeIp(srv.requestIP(req)?.address ?? ""));
        if (admitted instanceof Response) return admitted;
        if (srv.upgrade(req, { data: admitted.ip })) return undefined;
      }
      return routes(req, path);
    },
    error(err) {
      gateway.log.error("http handler failed", { error: String(err) });
      return Response.json(
        { id: "comet.internal", code: 500, detail: "internal error", status: "Internal Server Error" },
        { status: 500 },
      );
    },
    websocket: {
      // The gateway's heartbeat decides liveness; Bun's idle timeout would cut quiet sessions.
      idleTimeout: 0,
      maxPayloadLength: gateway.config.limits.max_uplink_bytes,
      perMessageDeflate: false,
      // A client that does not read is terminated once this much is queued to it (the peer sees
      // 1006): a close handshake would keep the backlog in memory behind it. Native, so a room
      // broadcast still runs no JavaScript per recipient.
      backpressureLimit: gateway.config.limits.max_send_buffer,
      closeOnBackpressureLimit: true,
      open(ws: ServerWebSocket<SocketData>) {
        ws.data = gateway.open(ws, typeof ws.data === "string" ? ws.data : "");
      },
      message(ws: ServerWebSocket<SocketData>, message: string | Buffer) {
        connOf(ws)?.onMessage(message);
      },
      close(ws: ServerWebSocket<SocketData>, code: number, reason: string) {
        // Bun may report 1006 where the peer got 1009 (oversized frame closed by Bun itself).
        const c = code === 1006 && reason.includes("too big") ? 1009 : code;
        connOf(ws)?.onClosed(c, reason);
      },
    },
  });
  (opts.fanout as BunFanout).server = server;
  return {
    port: server.port as number,
    hostname: server.hostname as string,
    async stop() {
      await server.stop(true);
    },
  };
}
