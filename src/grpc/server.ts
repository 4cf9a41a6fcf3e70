/**
 * The gRPC transport: comet.Comet over HTTP/2 with @grpc/grpc-js. A Subscribe stream becomes one
 * more PushSocket behind the same gateway (AUTH first, JOIN, re-AUTH, heartbeat, limits); the
 * unary methods share the admin check and the request checks of the HTTP API.
 */
import { type MethodDefinition, Server, ServerCredentials, type ServiceDefinition } from "@grpc/grpc-js";
import type net from "node:net";
import type { AdminAuth } from "../auth/admin.ts";
import type { Config } from "../config/schema.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Broker } from "../broker/broker.ts";
import type { PresenceSource } from "../broker/execute.ts";
import type { RevocationStore } from "../auth/revocations.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Logger } from "../log.ts";
import { Close } from "../protocol/codes.ts";
import { commandLimits } from "../protocol/commands.ts";
import { passBytes, uplinkReader } from "./codec.ts";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import { packageDefinition } from "./proto.ts";
import { listenTcp, TcpGuard } from "./listener.ts";
import { connectInfo, subscribeMethod } from "./subscribe.ts";
import { boundedMethod, unaryMethods } from "./unary.ts";

/**
 * Streams one HTTP/2 connection may have open at once. Bun's node:http2 ends streams in a
 * recursion whose depth grows with the streams that finish in one flush of a connection: without
 * a bound, ~10,000 unary calls in flight on one connection overflow the stack (on the client
 * side first, then on the server side). A peer honours this setting and queues the rest, which
 * keeps the depth far from the limit; see test/grpc/stress.test.ts.
 */
export const MAX_STREAMS_PER_CONNECTION = 1000;

export interface GrpcListener {
  readonly host: string;
  readonly port: number;
  /** Ends every stream 1001 (UNAVAILABLE), then closes the port. */
  stop(): Promise<void>;
  /** Stops listening, keeping every connection (a full worker: src/workers/capacity.ts). */
  pause(): void;
  /** Listens again on the same port; rejects with the listen error. */
  resume(): Promise<void>;
}

export interface GrpcDeps {
  host: string;
  port: number;
  /** SO_REUSEPORT, for the workers of one host (src/workers/). */
  reusePort?: boolean;
  tls?: { cert: string; key: string };
  config: Config;
  gateway: Gateway;
  /** Where Publish, Broadcast, Batch and DumpSession act: the hub, or the cluster (mqtt.forward_api). */
  broker: Broker;
  /** Answers the Presence method. */
  presence?: PresenceSource;
  /** Where a Disconnect's revoke is kept, and what Revocations lists. */
  revocations?: RevocationStore;
  admin: AdminAuth;
  fanout: LoopFanout;
  registry: Registry;
  log: Logger;
}

/** The service as grpc-js serves it: Subscribe reads uplinks itself; every unary request is bounded. */
function serviceDefinition(config: Config): ServiceDefinition {
  const base = packageDefinition["comet.Comet"] as ServiceDefinition;
  const method = (name: string) => base[name] as MethodDefinition<unknown, unknown>;
  const maxBody = config.limits.max_body_bytes;
  return {
    Subscribe: {
      ...method("Subscribe"),
      requestDeserialize: uplinkReader(config.limits.max_uplink_bytes),
      responseSerialize: passBytes,
    },
    Publish: boundedMethod(method("Publish"), maxBody),
    Broadcast: boundedMethod(method("Broadcast"), maxBody),
    DumpSession: boundedMethod(method("DumpSession"), maxBody),
    Batch: boundedMethod(method("Batch"), maxBody),
    Presence: boundedMethod(method("Presence"), maxBody),
    Disconnect: boundedMethod(method("Disconnect"), maxBody),
    Revocations: boundedMethod(method("Revocations"), maxBody),
  };
}

/** The TCP connections of the gRPC port, each closed when it holds no call for too long. */
function tcpGuard(config: Config, registry: Registry): TcpGuard {
  const tcp = new TcpGuard(
    // A connection must open its first call within auth.timeout, as a stream must AUTH within it.
    // Idle is counted from the last call: a live Subscribe stream is never idle, and a channel
    // kept between unary calls may rest as long as a silent session would live (3 heartbeats).
    { firstCallWithin: config.auth.timeout, idle: Math.max(config.auth.timeout, 3 * config.heartbeat.interval) },
    registry.counter("comet_grpc_tcp_closed_total", "gRPC TCP connections closed for holding no call, by reason"),
  );
  registry.gauge("comet_grpc_tcp_connections", "TCP connections open on the gRPC port", () => tcp.size);
  return tcp;
}

export async function listenGrpc(deps: GrpcDeps): Promise<GrpcListener> {
  const { config, gateway, broker, admin, fanout, registry, log } = deps;
  const requests = registry.counter("comet_grpc_requests_total", "gRPC unary calls, by method and status code");

  const service = serviceDefinition(config);

  const tcp = tcpGuard(config, registry);

  const server = new Server({
    "grpc.max_concurrent_streams": MAX_STREAMS_PER_CONNECTION,
    "grpc.max_receive_message_length": Math.max(config.limits.max_body_bytes, config.limits.max_uplink_bytes),
  });
  server.addService(service, {
    Subscribe: subscribeMethod({
      gateway,
      fanout,
      tcp,
      maxSendBuffer: config.limits.max_send_buffer,
    }),
    ...unaryMethods({
      broker,
      presence: deps.presence,
      revocations: deps.revocations,
      admin,
      limits: commandLimits(config.limits),
      requests,
      touch: (peer) => tcp.touch(peer),
      client: (call) => gateway.admitter.clientIp(connectInfo(call)),
      log,
    }),
  });

  const credentials = deps.tls
    ? ServerCredentials.createSsl(
        null,
        [{ cert_chain: Buffer.from(deps.tls.cert), private_key: Buffer.from(deps.tls.key) }],
        false,
      )
    : ServerCredentials.createInsecure();
  const injector = server.createConnectionInjector(credentials);
  const take = (socket: net.Socket) => {
    socket.on("error", () => {});
    tcp.add(socket);
    injector.injectConnection(socket);
  };
  let listener: Awaited<ReturnType<typeof listenTcp>> | undefined;
  try {
    listener = await listenTcp(deps.host, deps.port, take, deps.reusePort);
  } catch (err) {
    tcp.stop();
    injector.destroy();
    throw err;
  }
  const port = (listener.address() as { port: number }).port;

  return {
    host: deps.host,
    port,
    pause() {
      listener?.close();
      listener = undefined;
    },
    async resume() {
      listener ??= await listenTcp(deps.host, port, take, deps.reusePort);
    },
    async stop() {
      listener?.close();
      const ended = gateway.closeTransport("grpc", Close.GoingAway, "server shutting down");
      // Streams just ended need a moment for their trailers; connections still open are then cut.
      injector.drain(250);
      await new Promise((r) => setTimeout(r, ended === 0 && tcp.size === 0 ? 0 : 250));
      tcp.stop();
      tcp.destroyAll();
      injector.destroy();
      server.forceShutdown();
    },
  };
}
