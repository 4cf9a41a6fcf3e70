/**
 * The gRPC transport: comet.Comet over HTTP/2 with @grpc/grpc-js. A Subscribe stream becomes one
 * more PushSocket behind the same gateway (AUTH first, JOIN, re-AUTH, heartbeat, limits); the
 * unary methods share the admin check and the request checks of the HTTP API.
 */
import {
  type MethodDefinition,
  Server,
  ServerCredentials,
  type ServerUnaryCall,
  type ServiceDefinition,
  type sendUnaryData,
  status,
} from "@grpc/grpc-js";
import type { AdminAuth } from "../auth/admin.ts";
import type { Config } from "../config/schema.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Hub } from "../hub/hub.ts";
import type { Registry } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { Close } from "../protocol/codes.ts";
import { checkBroadcast, checkPublish, type RequestProblem } from "../protocol/requests.ts";
import { normalizeIp } from "../runtime/bun.ts";
import { passBytes, uplinkReader } from "./codec.ts";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import { packageDefinition } from "./proto.ts";
import { listenTcp, TcpGuard } from "./listener.ts";
import { GrpcSocket, type SubscribeCall } from "./socket.ts";

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
  /** Subscribe streams that hold a connection of the gateway. */
  readonly sockets: ReadonlySet<GrpcSocket>;
  /** Ends every stream 1001 (UNAVAILABLE), then closes the port. */
  stop(): Promise<void>;
}

export interface GrpcDeps {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  config: Config;
  gateway: Gateway;
  hub: Hub;
  admin: AdminAuth;
  fanout: LoopFanout;
  registry: Registry;
  log: Logger;
}

type Unary<Req> = (call: ServerUnaryCall<Req, unknown>, cb: sendUnaryData<unknown>) => void;

interface PublishReq {
  uid: string;
  evt: string;
}
interface BroadcastReq {
  rid: string;
  evt: string;
}

/** A unary request whose message was over limits.max_body_bytes; never decoded. */
const TOO_BIG = Symbol("too big");
/** A unary request whose bytes are not the message: INVALID_ARGUMENT, as HTTP answers bad JSON 400. */
const MALFORMED = Symbol("malformed");

const problemStatus = (p: RequestProblem) => ({
  code: p.kind === "evt_too_large" ? status.RESOURCE_EXHAUSTED : status.INVALID_ARGUMENT,
  details: p.detail,
});

/** "127.0.0.1:5000", "::1:5000" (grpc-js writes IPv6 without brackets) → the address. */
function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(":");
  const host = i > 0 ? peer.slice(0, i) : peer;
  return normalizeIp(host.replace(/^\[|\]$/g, ""));
}

export async function listenGrpc(deps: GrpcDeps): Promise<GrpcListener> {
  const { config, gateway, hub, admin, fanout, registry, log } = deps;
  const maxEvt = config.limits.max_evt_bytes;
  const sockets = new Set<GrpcSocket>();
  const requests = registry.counter("comet_grpc_requests_total", "gRPC unary calls, by method and status code");

  const base = packageDefinition["comet.Comet"] as ServiceDefinition;
  const method = (name: string) => base[name] as MethodDefinition<unknown, unknown>;
  // Each method checks its own limit on the wire bytes; the library's one limit (the larger of
  // the two) only stops what no method would take.
  const maxBody = config.limits.max_body_bytes;
  const bounded = (name: string): MethodDefinition<unknown, unknown> => {
    const m = method(name);
    return {
      ...m,
      requestDeserialize: (bytes: Buffer) => {
        if (bytes.length > maxBody) return TOO_BIG;
        try {
          return m.requestDeserialize(bytes);
        } catch {
          return MALFORMED;
        }
      },
    };
  };
  const service: ServiceDefinition = {
    Subscribe: {
      ...method("Subscribe"),
      requestDeserialize: uplinkReader(config.limits.max_uplink_bytes),
      responseSerialize: passBytes,
    },
    Publish: bounded("Publish"),
    Broadcast: bounded("Broadcast"),
    DumpSession: bounded("DumpSession"),
  };

  const tcp = new TcpGuard(
    // A connection must open its first call within auth.timeout, as a stream must AUTH within it.
    // Idle is counted from the last call: a live Subscribe stream is never idle, and a channel
    // kept between unary calls may rest as long as a silent session would live (3 heartbeats).
    { firstCallWithin: config.auth.timeout, idle: Math.max(config.auth.timeout, 3 * config.heartbeat.interval) },
    registry.counter("comet_grpc_tcp_closed_total", "gRPC TCP connections closed for holding no call, by reason"),
  );
  registry.gauge("comet_grpc_tcp_connections", "TCP connections open on the gRPC port", () => tcp.size);

  function subscribeHandler(call: SubscribeCall): void {
    const peer = call.getPeer();
    tcp.streamOpened(peer);
    const socket = new GrpcSocket(call, fanout, config.limits.max_send_buffer, (s) => {
      sockets.delete(s);
      tcp.streamClosed(peer);
    });
    // The same admission as a WebSocket upgrade (draining, Origin, connect rate per address,
    // X-Forwarded-For from trusted proxies), read from the call's metadata.
    const headers = new Headers();
    for (const name of ["origin", "x-forwarded-for"]) {
      const v = call.metadata.get(name)[0];
      if (typeof v === "string") headers.set(name, v);
    }
    const admitted = gateway.admit(new Request("http://grpc.invalid/", { headers }), peerAddress(peer));
    if (admitted instanceof Response) {
      const code = admitted.status === 503 ? Close.GoingAway : admitted.status === 403 ? Close.Forbidden : 0;
      if (code) socket.close(code, admitted.status === 503 ? "server shutting down" : "origin not allowed");
      else socket.refuse(status.RESOURCE_EXHAUSTED, "too many connects from this address: retry in a second");
      return;
    }
    const conn = gateway.open(socket, admitted.ip);
    if (!conn) return;
    socket.conn = conn;
    sockets.add(socket);
    call.on("data", (m) => {
      if ("tooBig" in m) {
        conn.close(Close.TooBig, `uplink message of ${m.tooBig} bytes over limits.max_uplink_bytes`);
      } else conn.onUplink(m);
    });
    // The client closed its side: the session ends as a WebSocket's does when the client closes.
    call.on("end", () => {
      // A stream the server reset (slow consumer) also ends; that end is not the client's.
      if (!socket.isEnded) conn.close(1000, "client ended the stream");
    });
    // Also how a stream ends that the library itself ended (a message past
    // grpc.max_receive_message_length): it tells the handler no more than "cancelled".
    call.on("cancelled", () => {
      socket.gone();
      conn.onClosed(1006, "stream cancelled or connection lost");
    });
  }

  function unary<Req>(method: string, run: (req: Req) => { code: status; details: string } | object): Unary<Req> {
    const ok = requests.with({ method, code: "OK" });
    return (call, cb) => {
      tcp.touch(call.getPeer());
      let answer: { code: status; details: string } | object;
      const auth = call.metadata.get("authorization")[0];
      if (!admin.check(typeof auth === "string" ? auth : null)) {
        answer = { code: status.UNAUTHENTICATED, details: "missing or wrong admin bearer token" };
      } else if (call.request === TOO_BIG) {
        answer = {
          code: status.RESOURCE_EXHAUSTED,
          details: `message over limits.max_body_bytes (${maxBody} bytes)`,
        };
      } else if (call.request === MALFORMED) {
        answer = { code: status.INVALID_ARGUMENT, details: "malformed protobuf" };
      } else {
        try {
          answer = run(call.request);
        } catch (err) {
          log.error("grpc handler failed", { method, error: String(err) });
          answer = { code: status.INTERNAL, details: "internal error" };
        }
      }
      if ("code" in answer) {
        requests.inc({ method, code: status[answer.code] ?? String(answer.code) });
        cb(answer);
      } else {
        ok.inc();
        cb(null, answer);
      }
    };
  }

  const server = new Server({
    "grpc.max_concurrent_streams": MAX_STREAMS_PER_CONNECTION,
    "grpc.max_receive_message_length": Math.max(config.limits.max_body_bytes, config.limits.max_uplink_bytes),
  });
  server.addService(service, {
    Subscribe: subscribeHandler,
    Publish: unary<PublishReq>("Publish", (req) => {
      const problem = checkPublish(req.uid, req.evt, maxEvt);
      if (problem) return problemStatus(problem);
      hub.publish(req.uid, req.evt);
      return {};
    }),
    Broadcast: unary<BroadcastReq>("Broadcast", (req) => {
      const problem = checkBroadcast(req.evt, maxEvt);
      if (problem) return problemStatus(problem);
      hub.broadcast(req.rid, req.evt);
      return {};
    }),
    DumpSession: unary<unknown>("DumpSession", () => hub.dump()),
  });

  const credentials = deps.tls
    ? ServerCredentials.createSsl(
        null,
        [{ cert_chain: Buffer.from(deps.tls.cert), private_key: Buffer.from(deps.tls.key) }],
        false,
      )
    : ServerCredentials.createInsecure();
  const injector = server.createConnectionInjector(credentials);
  let listener: Awaited<ReturnType<typeof listenTcp>>;
  try {
    listener = await listenTcp(deps.host, deps.port, (socket) => {
      socket.on("error", () => {});
      tcp.add(socket);
      injector.injectConnection(socket);
    });
  } catch (err) {
    tcp.stop();
    injector.destroy();
    throw err;
  }
  const port = (listener.address() as { port: number }).port;

  return {
    host: deps.host,
    port,
    sockets,
    async stop() {
      listener.close();
      for (const s of [...sockets]) s.conn?.close(Close.GoingAway, "server shutting down");
      // Streams just ended need a moment for their trailers; connections still open are then cut.
      injector.drain(250);
      await new Promise((r) => setTimeout(r, sockets.size === 0 && tcp.size === 0 ? 0 : 250));
      tcp.stop();
      tcp.destroyAll();
      injector.destroy();
      server.forceShutdown();
    },
  };
}
