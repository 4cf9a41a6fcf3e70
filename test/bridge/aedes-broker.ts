/**
 * The tests' broker where Mosquitto is not installed: aedes (the library behind mqtt.embedded) in a
 * process of its own, so that killing it is as real as killing Mosquitto. Mirrors the few Mosquitto
 * settings the tests use: users, allow_anonymous (lifted by SIGHUP, as a Mosquitto config reload
 * does in the tests), a TLS listener, and a WebSocket listener.
 *
 * Usage: bun test/bridge/aedes-broker.ts '{"port":1883,"anonymous":true,"users":{"u":"p"},"tls":{...},"ws":false}'
 */
import { readFileSync } from "node:fs";
import { createConnection, createServer, type Socket } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AuthenticateError } from "aedes";

interface Options {
  port: number;
  anonymous: boolean;
  users: Record<string, string>;
  tls?: { cert: string; key: string };
  ws?: boolean;
}

const o = JSON.parse(process.argv[2] ?? "{}") as Options;
let anonymous = o.anonymous;
process.on("SIGHUP", () => {
  anonymous = true;
});

const broker = await Aedes.createBroker({
  authenticate(_client, username, password, done) {
    if (username === undefined ? anonymous : o.users[username] === password?.toString()) {
      done(null, true);
      return;
    }
    const err = new Error("not authorized") as AuthenticateError;
    err.returnCode = 5 as AuthenticateError["returnCode"];
    done(err, null);
  },
});

if (o.ws) {
  // WebSocket in front, relayed to aedes over a loopback TCP socket: aedes fed from a stream that
  // is not a socket at times missed the SUBSCRIBE that follows CONNECT at once under Bun.
  const inner = createServer(broker.handle).listen(0, "127.0.0.1");
  await new Promise((r) => inner.once("listening", r));
  const innerPort = (inner.address() as { port: number }).port;
  Bun.serve<{ tcp: Socket | undefined }>({
    hostname: "127.0.0.1",
    port: o.port,
    fetch(req, srv) {
      const wanted = req.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      const headers = wanted ? { "sec-websocket-protocol": wanted } : undefined;
      const data = { tcp: undefined };
      return srv.upgrade(req, { data, headers }) ? undefined : new Response("WebSocket only", { status: 400 });
    },
    websocket: {
      open(ws) {
        const tcp = createConnection({ port: innerPort, host: "127.0.0.1" });
        ws.data.tcp = tcp;
        tcp.on("data", (chunk: Buffer) => ws.sendBinary(chunk));
        tcp.on("close", () => ws.close());
        tcp.on("error", () => ws.close());
      },
      message(ws, msg) {
        ws.data.tcp?.write(typeof msg === "string" ? Buffer.from(msg) : msg);
      },
      close(ws) {
        ws.data.tcp?.destroy();
      },
    },
  });
} else if (o.tls) {
  createTlsServer({ cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }, broker.handle).listen(
    o.port,
    "127.0.0.1",
  );
} else {
  createServer(broker.handle).listen(o.port, "127.0.0.1");
}
