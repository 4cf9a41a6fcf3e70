/**
 * The floor: a bare Bun.serve pub/sub server, what the runtime itself does with no gateway in
 * front. Every WebSocket subscribes to one topic on open; POST /publish publishes its body to it,
 * as it is (the bench sends it the exact frame Comet would send). POST /unicast takes Comet's Publish
 * body {"uid","evt"} and sends the PUSH frame to one socket (the floor knows no users: socket
 * number uid mod N, in the order they opened). POST /batch takes Comet's Batch body of Publishes
 * ({"commands":[{"publish":{"uid","evt"}}, ...]}) and does the same for each. GET /count answers
 * how many are subscribed. Same WebSocket options as Comet's adapter.
 *
 *   bun bench/floor-server.ts --listen 127.0.0.1:PORT
 */
import type { ServerWebSocket } from "bun";

const TOPIC = "room";

function parseListen(argv: string[]): { hostname: string; port: number } {
  const i = argv.indexOf("--listen");
  const v = i >= 0 ? argv[i + 1] : "127.0.0.1:0";
  const m = /^(.*):(\d+)$/.exec(v ?? "");
  if (!m) throw new Error(`--listen: expected HOST:PORT, got ${v}`);
  return { hostname: m[1] as string, port: Number(m[2]) };
}

const { hostname, port } = parseListen(process.argv);
const sockets: ServerWebSocket<unknown>[] = [];
const server = Bun.serve({
  hostname,
  port,
  async fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (srv.upgrade(req)) return undefined;
      return new Response("upgrade failed", { status: 400 });
    }
    if (req.method === "POST" && path === "/publish") {
      srv.publish(TOPIC, await req.text());
      return new Response("{}");
    }
    if (req.method === "POST" && path === "/unicast") {
      const { uid, evt } = (await req.json()) as { uid: string; evt: string };
      sockets[Number(uid.slice(1)) % sockets.length]?.send(`{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`);
      return new Response("{}");
    }
    if (req.method === "POST" && path === "/batch") {
      const { commands } = (await req.json()) as { commands: Array<{ publish: { uid: string; evt: string } }> };
      for (const { publish: p } of commands) {
        sockets[Number(p.uid.slice(1)) % sockets.length]?.send(`{"t":"PUSH","push":{"evt":${JSON.stringify(p.evt)}}}`);
      }
      return new Response(`{"results":${JSON.stringify(commands.map(() => ({})))}}`);
    }
    if (path === "/count") return Response.json({ subscribers: srv.subscriberCount(TOPIC) });
    if (path === "/healthz") return Response.json({ status: "ok" });
    return new Response("not found", { status: 404 });
  },
  websocket: {
    idleTimeout: 0,
    maxPayloadLength: 4096,
    perMessageDeflate: false,
    open(ws) {
      ws.subscribe(TOPIC);
      sockets.push(ws);
    },
    close(ws) {
      const i = sockets.indexOf(ws);
      if (i >= 0) sockets.splice(i, 1);
    },
    message() {},
  },
});
process.stderr.write(`${JSON.stringify({ msg: "listening", listen: `${server.hostname}:${server.port}` })}\n`);
