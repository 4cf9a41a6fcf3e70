/**
 * `mqtt.embedded.listen`: an MQTT broker (aedes) inside the comet process, on plain TCP, so that a
 * single binary gives backends an MQTT endpoint with no other infrastructure. The bridge connects
 * to it over loopback like to any other broker, so both modes run the same code.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type Socket } from "node:net";
import { Aedes, type AuthenticateError } from "aedes";
import { ListenError } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface EmbeddedBroker {
  readonly host: string;
  readonly port: number;
  /** Where a client on this machine reaches it (a wildcard address becomes loopback). */
  readonly url: string;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  host: string;
  port: number;
  /** When set, every client (the bridge too) must present these credentials. */
  username?: string;
  password?: string;
  log: Logger;
}

const NOT_AUTHORIZED = 5;

export async function startEmbeddedBroker(o: EmbeddedOptions): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({
    // One subscriber that stops reading must not stall delivery to everyone (aedes' own advice).
    drainTimeout: 10_000,
    // aedes calls its authenticate unconditionally: leave the key out for its default (allow all).
    ...(o.username === undefined ? {} : { authenticate: checkCredentials(o.username, o.password ?? "") }),
  });
  broker.on("clientError", (client, err) =>
    o.log.debug("mqtt embedded: client error", { client: client.id, error: err.message }),
  );
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  const where = `${o.host.includes(":") ? `[${o.host}]` : o.host}:${o.port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(o.port, o.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    throw ListenError.from("mqtt.embedded.listen", where, err);
  }
  server.on("error", (err) => o.log.error("mqtt embedded: listener failed", { error: err.message }));
  const addr = server.address();
  const port = typeof addr === "object" && addr ? addr.port : o.port;
  const local = o.host === "0.0.0.0" || o.host === "" ? "127.0.0.1" : o.host === "::" ? "::1" : o.host;
  const url = `mqtt://${local.includes(":") ? `[${local}]` : local}:${port}`;
  o.log.info("mqtt embedded broker listening", { listen: `${o.host.includes(":") ? `[${o.host}]` : o.host}:${port}` });
  let closing: Promise<void> | undefined;
  return {
    host: o.host,
    port,
    url,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        broker.close(() => {
          // Sockets aedes has not adopted yet (no CONNECT) would keep server.close() waiting.
          for (const s of sockets) s.destroy();
        });
      });
      return closing;
    },
  };
}

function checkCredentials(username: string, password: string) {
  const want = Buffer.from(`${username}\u0000${password}`);
  return (
    _client: unknown,
    user: string | undefined,
    pass: Buffer | undefined,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void => {
    const got = Buffer.from(`${user ?? ""}\u0000${pass?.toString("utf8") ?? ""}`);
    if (got.length === want.length && timingSafeEqual(got, want)) {
      done(null, true);
      return;
    }
    const err = new Error("bad user name or password") as AuthenticateError;
    err.returnCode = NOT_AUTHORIZED as AuthenticateError["returnCode"];
    done(err, null);
  };
}
