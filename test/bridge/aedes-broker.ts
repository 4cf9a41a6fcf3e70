/**
 * The tests' broker where Mosquitto is not installed: aedes (the library behind mqtt.embedded) in a
 * process of its own, so that killing it is as real as killing Mosquitto. Mirrors the few Mosquitto
 * settings the tests use: users, allow_anonymous (lifted by SIGHUP, as a Mosquitto config reload
 * does in the tests), a TLS listener, and a WebSocket listener.
 *
 * Usage: bun test/bridge/aedes-broker.ts '{"port":1883,"anonymous":true,"users":{"u":"p"},"tls":{...},"ws":false}'
 */
import { readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { createServer } from "node:net";
import { createServer as createTlsServer } from "node:tls";
import { Aedes, type AuthenticateError } from "aedes";
import { createWebSocketStream, WebSocketServer } from "ws";

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
  const http = createHttpServer();
  const wss = new WebSocketServer({ server: http });
  wss.on("connection", (socket, req) => broker.handle(createWebSocketStream(socket), req));
  http.listen(o.port, "127.0.0.1");
} else if (o.tls) {
  createTlsServer({ cert: readFileSync(o.tls.cert), key: readFileSync(o.tls.key) }, broker.handle).listen(
    o.port,
    "127.0.0.1",
  );
} else {
  createServer(broker.handle).listen(o.port, "127.0.0.1");
}
