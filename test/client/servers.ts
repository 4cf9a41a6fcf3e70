/** Servers the client tests need beyond test/helpers.ts: one on a chosen port, a silent one, a closed port. */
import type { ServerWebSocket } from "bun";
import { startTest, type TestServer } from "../helpers.ts";

export type { TestServer } from "../helpers.ts";

/** A comet instance on 127.0.0.1:port (0 = any free port), so a test can restart it where clients expect it. */
export function startOn(port: number, yaml = ""): Promise<TestServer> {
  return startTest(yaml, {}, { listen: `127.0.0.1:${port}` });
}

/** A port nothing listens on: bound once by the OS, then released. */
export async function closedPort(): Promise<number> {
  const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
  const port = s.port as number;
  await s.stop(true);
  return port;
}

/** A WebSocket server that accepts, records every uplink, and never says a word unless told. */
export function silentServer() {
  const uplinks: string[][] = [];
  const sockets: ServerWebSocket<{ n: number }>[] = [];
  let open = 0;
  const server = Bun.serve<{ n: number }>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, srv) {
      if (srv.upgrade(req, { data: { n: uplinks.length } })) return undefined;
      return new Response("upgrade only", { status: 400 });
    },
    websocket: {
      idleTimeout: 0,
      open(ws) {
        ws.data.n = uplinks.push([]) - 1;
        sockets.push(ws);
        open++;
      },
      message(ws, msg) {
        uplinks[ws.data.n]?.push(typeof msg === "string" ? msg : new TextDecoder().decode(msg));
      },
      close() {
        open--;
      },
    },
  });
  return {
    url: `ws://127.0.0.1:${server.port}/comet/Comet/Subscribe`,
    /** Uplink frames, one list per connection, in the order connections came. */
    uplinks,
    /** The server side of each connection, to send frames from. */
    sockets,
    get openConnections() {
      return open;
    },
    server,
    stop: () => server.stop(true),
  };
}

/** A TCP server that accepts and never answers, not even the WebSocket handshake. */
export function muteTcpServer() {
  let accepted = 0;
  const server = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open() {
        accepted++;
      },
      data() {},
    },
  });
  return {
    url: `ws://127.0.0.1:${server.port}/comet/Comet/Subscribe`,
    get accepted() {
      return accepted;
    },
    stop: () => server.stop(true),
  };
}

/** An SSE endpoint that answers every request 200 with a stream the test writes to, one per request. */
export function sseServer() {
  const encoder = new TextEncoder();
  const streams: Array<{ request: Request; write(text: string): void; end(): void }> = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 0,
    fetch(request) {
      const body = new ReadableStream<Uint8Array>({
        start(ctrl) {
          streams.push({
            request,
            write: (text) => ctrl.enqueue(encoder.encode(text)),
            end: () => ctrl.close(),
          });
          // As the server's stream opens: a comment, so that the answer's head goes out at once.
          ctrl.enqueue(encoder.encode(":\n\n"));
        },
      });
      return new Response(body, { headers: { "content-type": "text/event-stream" } });
    },
  });
  return {
    /** The client's URL: ws(s), which its SSE transport reads as http(s). */
    url: `ws://127.0.0.1:${server.port}/comet/Comet/Subscribe`,
    /** One per request, in the order they came. */
    streams,
    stop: () => server.stop(true),
  };
}
