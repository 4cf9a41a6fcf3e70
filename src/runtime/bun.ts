/**
 * The Bun adapter: the only file that touches Bun.serve. Room and world fan-out use Bun's native
 * topic pub/sub, and a ServerWebSocket is the core's PushSocket as it is.
 */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import { NEVER, worthCompressing } from "../protocol/compressible.ts";
import { type Downlink, JSON_TEXT } from "../protocol/downlink.ts";
import { pathOf } from "./path.ts";
import { type Fanout, type Listener, type ListenOptions, type SocketEvents, Streaming, Upgrade } from "./types.ts";

/**
 * A socket's data: its client's IP from the upgrade until it opens, then its events handler (or
 * undefined when refused). No wrapper object: one less allocation per connection.
 */
type SocketData = string | SocketEvents | undefined;

const eventsOf = (ws: ServerWebSocket<SocketData>): SocketEvents | undefined =>
  typeof ws.data === "object" ? ws.data : undefined;

/**
 * Bun reports 1006 for a connection it closed itself, and names the close code it sent in words
 * only: this is the code the peer received, so that comet_disconnects_total does not count a
 * client's bad frame as a lost network.
 */
const BUN_CLOSES: ReadonlyArray<readonly [string, number]> = [
  ["too big", 1009], // past maxPayloadLength (limits.max_uplink_bytes), inflated size included
  ["invalid compressed data", 1007], // RSV1 set on a payload that does not inflate
  ["unexpected RSV1", 1002], // RSV1 set without permessage-deflate negotiated
];

function sentByBun(reason: string): number {
  for (const [words, code] of BUN_CLOSES) if (reason.includes(words)) return code;
  return 1006;
}

export function collectGarbage(): void {
  Bun.gc(true);
}

export async function listen(opts: ListenOptions): Promise<Listener> {
  const { handlers } = opts;
  const minBytes = opts.compression?.minBytes ?? NEVER;
  const serve = (port: number): Server<SocketData> =>
    Bun.serve<SocketData>({
      hostname: opts.host,
      port,
      tls: opts.tls,
      reusePort: opts.reusePort === true,
      fetch(req, srv) {
        const answer = handlers.request(req, pathOf(req.url), () => srv.requestIP(req)?.address ?? "");
        if (answer instanceof Streaming) {
          srv.timeout(req, 0);
          return answer.response;
        }
        if (!(answer instanceof Upgrade)) return answer;
        if (srv.upgrade(req, { data: answer.ip })) return undefined;
        return handlers.upgradeFailed();
      },
      error: (err) => handlers.error(err),
      websocket: websocketHandlers(opts, handlers),
    });
  let current: Server<SocketData> | undefined = serve(opts.port);
  const port = current.port as number;
  const hostname = current.hostname as string;
  // A paused server stops listening but still carries its WebSockets and their topics: a resume
  // makes another server, and a publish goes to each.
  const servers = [current];
  const fanout: Fanout = {
    publish(topic: string, frame: Downlink): void {
      const text = frame.encoded(JSON_TEXT);
      // Bun's own publish compresses by default: decide, like a unicast send does.
      const compress = worthCompressing(text, minBytes);
      for (const server of servers) server.publish(topic, text, compress);
    },
  };
  return {
    port,
    hostname,
    fanout,
    async stop() {
      current = undefined;
      await Promise.all(servers.map((s) => s.stop(true)));
    },
    pause() {
      // Its promise settles when the last of its connections is gone: nothing waits for that.
      void current?.stop(false);
      current = undefined;
    },
    async resume() {
      if (current) return;
      // A server whose last connection is gone is forgotten: pauses and resumes do not pile up.
      for (let i = servers.length - 1; i >= 0; i--) {
        const s = servers[i] as Server<SocketData>;
        if (s.pendingWebSockets === 0 && s.pendingRequests === 0) servers.splice(i, 1);
      }
      current = serve(port);
      servers.push(current);
    },
  };
}

function websocketHandlers(opts: ListenOptions, handlers: ListenOptions["handlers"]): WebSocketHandler<SocketData> {
  return {
    // The core's heartbeat decides liveness; Bun's idle timeout would cut quiet sessions.
    idleTimeout: 0,
    maxPayloadLength: opts.maxUplinkBytes,
    // One compressor and one decompressor for all sockets, reset after each message (no context
    // takeover): a dedicated one would hold 256 KB per socket, a million sockets' worth of RAM.
    // Bun checks maxPayloadLength after inflating, so a decompression bomb is closed 1009.
    perMessageDeflate: opts.compression ? { compress: "shared", decompress: "shared" } : false,
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
    // The server never pings, so every pong is unsolicited (RFC 6455 allows them): it costs
    // like a ping, and a pong flood is cut like a ping flood.
    pong(ws: ServerWebSocket<SocketData>) {
      eventsOf(ws)?.onPing();
    },
    close(ws: ServerWebSocket<SocketData>, code: number, reason: string) {
      eventsOf(ws)?.onClosed(code === 1006 ? sentByBun(reason) : code, reason);
    },
  };
}
