/**
 * The listening half of an instance: the runtime's HTTP/WebSocket listener, then gRPC, then the
 * gateway's sweep, each installed as a part (closed in the reverse order: the sweep, gRPC, the
 * HTTP streams and the listener).
 */
import type { RevocationStore } from "../auth/revocations.ts";
import type { Broker } from "../broker/broker.ts";
import type { PresenceSource } from "../broker/execute.ts";
import { ListenError } from "../errors.ts";
import type { GrpcListener } from "../grpc/server.ts";
import type { HttpPart } from "../http/install.ts";
import { LoopFanout } from "../runtime/loop-fanout.ts";
import type { Listener } from "../runtime/types.ts";
import { showAddress } from "../util/address.ts";
import type { Core } from "./core.ts";
import type { Parts } from "../part.ts";

/** Ports other than the config's: a worker given the port that worker 1 bound for port 0. */
export interface ListenAt {
  port: number;
  grpcPort?: number;
}

export interface Listening {
  listener: Listener;
  grpc: GrpcListener | undefined;
}

/** Listens on `listen` and grpc.listen; a failure closes every part and rejects with a ListenError. */
export async function listenAll(
  core: Core,
  parts: Parts,
  deps: {
    at?: ListenAt;
    http: HttpPart;
    broker: Broker;
    presence: PresenceSource;
    reusePort?: boolean;
    /** Where revocations are kept, when not only in the core's table (history.store: redis). */
    revocations?: RevocationStore;
  },
): Promise<Listening> {
  try {
    const listener = await listenHttp(core, parts, deps.http, deps.at?.port, deps.reusePort);
    const grpc = await listenGrpcPart(core, parts, deps);
    core.gateway.start();
    parts.add({ close: () => core.gateway.stop() });
    return { listener, grpc };
  } catch (err) {
    await parts.close();
    throw err;
  }
}

async function listenHttp(
  core: Core,
  parts: Parts,
  http: HttpPart,
  at: number | undefined,
  reusePort?: boolean,
): Promise<Listener> {
  const { config, hub } = core;
  const host = config.listen.host;
  const port = at ?? config.listen.port;
  let listener: Listener;
  try {
    listener = await core.runtime.listen({
      host,
      port,
      tls: core.tls,
      handlers: http.handlers,
      maxUplinkBytes: config.limits.max_uplink_bytes,
      maxSendBuffer: config.limits.max_send_buffer,
      compression:
        config.websocket.compression === "on" ? { minBytes: config.websocket.compression_min_bytes } : undefined,
      reusePort,
    });
  } catch (err) {
    throw ListenError.from("listen", showAddress(host, port), err);
  }
  // The native fan-out first, so WebSocket latency is unchanged by the loops beside it.
  hub.addFanout(listener.fanout);
  hub.addFanout(http.streamFanout);
  parts.add({
    async close() {
      // A runtime's stop waits for the responses it is still sending: end the streams first.
      http.streams.closeAll();
      http.consoleStreams?.closeAll();
      await listener.stop();
    },
  });
  return listener;
}

async function listenGrpcPart(
  core: Core,
  parts: Parts,
  deps: { at?: ListenAt; broker: Broker; presence: PresenceSource; reusePort?: boolean; revocations?: RevocationStore },
): Promise<GrpcListener | undefined> {
  const { config, grpcAddr } = core;
  if (!grpcAddr) return undefined;
  // gRPC streams are reached by a loop beside the native topics; without gRPC, nothing is added.
  const loop = new LoopFanout();
  let grpc: GrpcListener;
  try {
    // Loaded here, only with grpc.listen set: @grpc/grpc-js and the proto loader are not in memory otherwise.
    const { listenGrpc } = await import("../grpc/server.ts");
    grpc = await listenGrpc({
      host: grpcAddr.host,
      port: deps.at?.grpcPort ?? grpcAddr.port,
      reusePort: deps.reusePort,
      tls: core.tls,
      config,
      gateway: core.gateway,
      broker: deps.broker,
      presence: deps.presence,
      revocations: deps.revocations ?? core.revocations,
      admin: core.admin,
      fanout: loop,
      registry: core.registry,
      log: core.log,
    });
  } catch (err) {
    throw ListenError.from("grpc.listen", config.grpc.listen, err);
  }
  core.hub.addFanout(loop);
  parts.add({ close: () => grpc.stop() });
  return grpc;
}
