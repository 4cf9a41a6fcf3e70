/**
 * `mqtt.embedded.listen`: an MQTT broker (aedes) inside the comet process, on plain TCP, so that a
 * single binary gives backends an MQTT endpoint with no other infrastructure. The bridge connects
 * to it over loopback like to any other broker, so both modes run the same code. Who may do what
 * on it: embedded-access.ts; the packet size limit: packet-guard.ts.
 */
import { showAddress } from "../../util/address.ts";
import { createServer, type Socket } from "node:net";
import { Aedes } from "aedes";
import { ListenError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type AccessRules, accessHooks } from "./embedded-access.ts";
import { guardPackets } from "./packet-guard.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";

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
  access: AccessRules;
  maxPacketBytes: number;
  log: Logger;
}

export async function startEmbeddedBroker(o: EmbeddedOptions): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker({
    // One subscriber that stops reading must not stall delivery to everyone (aedes' own advice).
    drainTimeout: 10_000,
    ...accessHooks(o.access),
  });
  broker.on("clientError", (client, err) =>
    o.log.debug("mqtt embedded: client error", { client: client.id, error: err.message }),
  );
  const tooLarge = new RateLimitedWarn(
    o.log,
    "mqtt embedded: packet over mqtt.embedded.max_packet_bytes, client disconnected",
  );
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    guardPackets(socket, o.maxPacketBytes, (announced) =>
      tooLarge.warn({ peer, announced, max_packet_bytes: o.maxPacketBytes }),
    );
    broker.handle(socket);
  });
  const where = showAddress(o.host, o.port);
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
  const url = `mqtt://${showAddress(local, port)}`;
  o.log.info("mqtt embedded broker listening", { listen: showAddress(o.host, port) });
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
