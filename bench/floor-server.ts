/**
 * The floor: a bare Bun.serve pub/sub server, what the runtime itself does with no gateway in
 * front. Every WebSocket subscribes to one topic on open; POST /publish publishes its body to it,
 * as it is (the bench sends it the exact frame Comet would send). POST /unicast takes Comet's Publish
 * body {"uid","evt"} and sends the PUSH frame to one socket (the floor knows no users: socket
 * number uid mod N, in the order they opened). POST /batch takes Comet's Batch body of Publishes
 * ({"commands":[{"publish":{"uid","evt"}}, ...]}) and does the same for each. GET /count answers
 * how many are subscribed. Same WebSocket options as Comet's adapter.
 *
 * With --mqtt, the floor of MQTT ingest: it subscribes to comet/events (QoS 0) through mqtt.js, the
 * library Comet's bridge uses, and sends each message's {"uid","evt"} as /unicast does. GET /readyz
 * answers 200 once the broker has acknowledged the subscription (at once without --mqtt).
 *
 *   bun bench/floor-server.ts --listen 127.0.0.1:PORT [--mqtt mqtt://HOST:PORT]
 *
 * FLOOR_AS_COMET=a,b,... turns on Comet's own choices one by one, for an A/B of where Comet's cost
 * lies (`npx bun bench/ab.ts`): backpressure (backpressureLimit 1 MiB, closeOnBackpressureLimit),
 * compressarg (send(text, false)), pingpong (ping and pong handlers), data (an object per socket),
 * bytes (the body as bytes, decoded, parsed), headers (a Headers object on each answer), sha (a
 * SHA-256 of the Authorization header), modules (the libraries Comet loaded at start until they became lazy, unused), all (every one
 * of these). Not in `all`, for connect: auth (the first frame is taken as the AUTH it is, its HS256
 * token verified with createHmac against FLOOR_HS256_SECRET and its claims read; the socket
 * subscribes then, not on open): the job a connect does at its least.
 */
import type { ServerWebSocket } from "bun";

const TOPIC = "room";
const AS_COMET = new Set((process.env.FLOOR_AS_COMET ?? "").split(",").filter(Boolean));
const like = (choice: string): boolean => AS_COMET.has(choice) || AS_COMET.has("all");
// The libraries Comet loaded whatever its config until they became lazy (its gRPC, Redis, MQTT and
// JWT code; default serve now loads jose, yaml and commander): what a bigger process costs a floor
// that uses none of them, the A/B that led to loading them on demand.
if (like("modules")) await Promise.all(["@grpc/grpc-js", "@redis/client", "mqtt", "aedes", "jose"].map((m) => import(m)));
const COMPRESS_ARG = like("compressarg");
// Loaded only for its variant: the plain floor imports nothing.
const sha = like("sha") ? (await import("node:crypto")).hash : undefined;
const AUTH = AS_COMET.has("auth");
const hmac = AUTH ? (await import("node:crypto")).createHmac : undefined;
const SECRET = process.env.FLOOR_HS256_SECRET ?? "";
/** The AUTH frame's token checked as a bare server would: signature, then the claims' exp. */
function authenticated(frame: string): boolean {
  const token = (JSON.parse(frame) as { auth?: { token?: string } }).auth?.token ?? "";
  const dot = token.lastIndexOf(".");
  const signature = hmac?.("sha256", SECRET).update(token.slice(0, dot)).digest("base64url");
  if (dot < 0 || signature !== token.slice(dot + 1)) return false;
  const claims = JSON.parse(Buffer.from(token.slice(token.indexOf(".") + 1, dot), "base64url").toString()) as {
    exp?: number;
  };
  return (claims.exp ?? Infinity) > Date.now() / 1000;
}
const JSON_HEADERS = new Headers({ "content-type": "application/json" });
const answer = (text: string): Response => (like("headers") ? new Response(text, { headers: JSON_HEADERS }) : new Response(text));
const utf8 = new TextDecoder("utf-8", { fatal: true });
const readJson = async (req: Request): Promise<unknown> => {
  if (sha) sha("sha256", req.headers.get("authorization") ?? "", "buffer");
  return like("bytes") ? JSON.parse(utf8.decode(await req.bytes())) : req.json();
};
const sendTo = (ws: ServerWebSocket<object | undefined> | undefined, text: string): void => {
  if (COMPRESS_ARG) ws?.send(text, false);
  else ws?.send(text);
};

const MQTT_TOPIC = "comet/events";
const pushFrame = (evt: string): string => `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`;

const option = (argv: string[], name: string): string | undefined => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

function parseListen(argv: string[]): { hostname: string; port: number } {
  const v = option(argv, "--listen") ?? "127.0.0.1:0";
  const m = /^(.*):(\d+)$/.exec(v ?? "");
  if (!m) throw new Error(`--listen: expected HOST:PORT, got ${v}`);
  return { hostname: m[1] as string, port: Number(m[2]) };
}

const { hostname, port } = parseListen(process.argv);
const sockets: ServerWebSocket<object | undefined>[] = [];
// The floor knows no users: the bench's users are u0..uN-1, so socket number uid mod N.
const unicast = (uid: string, evt: string): void => sendTo(sockets[Number(uid.slice(1)) % sockets.length], pushFrame(evt));

/**
 * Subscribes to the broker; `ready` turns true once the broker has acknowledged the subscription.
 * mqtt.js is loaded only here: the floor of every other scenario is a bare process (a library
 * loaded and unused changes its memory per connection and its CPU per publish).
 */
async function subscribeMqtt(url: string): Promise<{ ready: boolean }> {
  const { connect } = await import("mqtt");
  const state = { ready: false };
  const client = connect(url, { clean: true, reconnectPeriod: 0 });
  client.on("connect", () =>
    client.subscribe(MQTT_TOPIC, { qos: 0 }, (err) => {
      if (err) throw err;
      state.ready = true;
    }),
  );
  client.on("message", (_topic, payload) => {
    const { uid, evt } = JSON.parse(payload.toString()) as { uid: string; evt: string };
    unicast(uid, evt);
  });
  client.on("error", (e) => {
    throw e;
  });
  return state;
}

const mqttUrl = option(process.argv, "--mqtt");
const mqtt = mqttUrl ? await subscribeMqtt(mqttUrl) : { ready: true };
const server = Bun.serve<object | undefined>({
  hostname,
  port,
  async fetch(req, srv) {
    const path = new URL(req.url).pathname;
    if (req.headers.get("upgrade")?.toLowerCase() === "websocket") {
      if (srv.upgrade(req, { data: undefined })) return undefined;
      return new Response("upgrade failed", { status: 400 });
    }
    if (req.method === "POST" && path === "/publish") {
      srv.publish(TOPIC, await req.text());
      return new Response("{}");
    }
    if (req.method === "POST" && path === "/unicast") {
      const { uid, evt } = (await readJson(req)) as { uid: string; evt: string };
      unicast(uid, evt);
      return answer("{}");
    }
    if (req.method === "POST" && path === "/batch") {
      const { commands } = (await readJson(req)) as { commands: Array<{ publish: { uid: string; evt: string } }> };
      for (const { publish: p } of commands) unicast(p.uid, p.evt);
      return answer(`{"results":${JSON.stringify(commands.map(() => ({})))}}`);
    }
    if (path === "/count") return Response.json({ subscribers: srv.subscriberCount(TOPIC) });
    if (path === "/healthz") return Response.json({ status: "ok" });
    if (path === "/readyz") return mqtt.ready ? Response.json({ status: "ok" }) : new Response("not subscribed", { status: 503 });
    return new Response("not found", { status: 404 });
  },
  websocket: {
    idleTimeout: 0,
    maxPayloadLength: 4096,
    perMessageDeflate: false,
    ...(like("backpressure") ? { backpressureLimit: 1048576, closeOnBackpressureLimit: true } : {}),
    ...(like("pingpong") ? { ping() {}, pong() {} } : {}),
    open(ws) {
      if (like("data")) ws.data = { opened: Date.now(), state: 1, uid: "" };
      if (AUTH) return;
      ws.subscribe(TOPIC);
      sockets.push(ws);
    },
    close(ws) {
      const i = sockets.indexOf(ws);
      if (i >= 0) sockets.splice(i, 1);
    },
    message(ws, msg) {
      if (!AUTH || ws.isSubscribed(TOPIC)) return;
      if (!authenticated(String(msg))) return ws.close(4401, "token invalid");
      ws.subscribe(TOPIC);
      sockets.push(ws);
    },
  },
});
process.stderr.write(`${JSON.stringify({ msg: "listening", listen: `${server.hostname}:${server.port}` })}\n`);
// An exit rather than death by signal, so that `bun --cpu-prof` writes its profile.
process.on("SIGTERM", () => process.exit(0));
