/**
 * `mqtt.embedded.listen`: an MQTT broker (aedes) inside the comet process, on plain TCP, so that a
 * single binary gives backends an MQTT endpoint with no other infrastructure. The bridge connects
 * to it over loopback like to any other broker, so both modes run the same code. Who may do what
 * on it: embedded-access.ts; the packet size limit: packet-guard.ts; the bounds on connections that
 * have not CONNECTed yet: strangers.ts.
 */
import { showAddress } from "../../util/address.ts";
import { createServer, type Socket } from "node:net";
import type { Aedes } from "aedes";
import { ListenError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import { type AccessRules, accessHooks } from "./embedded-access.ts";
import { guardPackets } from "./packet-guard.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";
import type { Counter } from "../../metrics/registry.ts";
import { CONNECT_MAX_BYTES, CONNECT_TIMEOUT_MS, PendingConnects } from "./strangers.ts";

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
  /** Connections refused or ended by the broker's limits, by reason. */
  refused?: Counter;
  log: Logger;
}

/**
 * What the broker does with each TCP connection before aedes reads it: strangers (no CONNECT yet)
 * are capped overall and per address, and a packet past its limit ends the connection.
 */
function admitter(broker: Aedes, o: EmbeddedOptions, sockets: Set<Socket>): (socket: Socket) => void {
  const count = (reason: string) => o.refused?.inc({ reason });
  broker.on("clientError", (client, err) =>
    o.log.debug("mqtt embedded: client error", { client: client.id, error: err.message }),
  );
  const tooLarge = new RateLimitedWarn(
    o.log,
    "mqtt embedded: packet over mqtt.embedded.max_packet_bytes, client disconnected",
  );
  const strangers = new RateLimitedWarn(o.log, "mqtt embedded: connection before CONNECT refused or ended");
  const pending = new PendingConnects();
  // Connected (the CONNECT read and its account accepted): no longer a stranger.
  broker.on("client", (client) => pending.release(client.conn));
  broker.on("connectionError", (_client, err) => {
    if (!/connect did not arrive/.test(err.message)) return;
    count("connect_timeout");
    strangers.warn({ reason: "connect_timeout", connect_timeout_ms: CONNECT_TIMEOUT_MS });
  });
  return (socket: Socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    const refusal = pending.admit(socket, socket.remoteAddress ?? "");
    if (refusal) {
      socket.destroy();
      count(refusal);
      strangers.warn({ peer, reason: refusal, waiting: pending.size });
      return;
    }
    sockets.add(socket);
    socket.on("close", () => {
      sockets.delete(socket);
      pending.release(socket);
    });
    guardPackets(socket, { maxBytes: o.maxPacketBytes, connectMaxBytes: CONNECT_MAX_BYTES }, (announced, first) => {
      if (first) {
        count("connect_too_large");
        strangers.warn({ peer, reason: "connect_too_large", announced, connect_max_bytes: CONNECT_MAX_BYTES });
      } else {
        count("packet_too_large");
        tooLarge.warn({ peer, announced, max_packet_bytes: o.maxPacketBytes });
      }
    });
    broker.handle(socket);
  };
}

export async function startEmbeddedBroker(o: EmbeddedOptions): Promise<EmbeddedBroker> {
  // Loaded only when an embedded broker starts: aedes is not in memory otherwise.
  const { Aedes: Broker } = await import("aedes");
  const broker = await Broker.createBroker({
    // One subscriber that stops reading must not stall delivery to everyone (aedes' own advice).
    drainTimeout: 10_000,
    connectTimeout: CONNECT_TIMEOUT_MS,
    ...accessHooks(o.access),
  });
  const sockets = new Set<Socket>();
  const server = createServer(admitter(broker, o, sockets));
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
