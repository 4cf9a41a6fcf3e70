/**
 * The unary methods of comet.Comet (Publish, Broadcast, DumpSession, Batch, Presence, Disconnect,
 * Revocations): the admin check, then the
 * request decoded into a command by the rules every way in shares, then the hub. Each refusal
 * maps onto a gRPC status as the HTTP API maps it onto a status code.
 */
import { type MethodDefinition, type ServerUnaryCall, type sendUnaryData, status } from "@grpc/grpc-js";
import type { AdminAuth } from "../auth/admin.ts";
import type { Broker } from "../broker/broker.ts";
import { execute, type PresenceSource } from "../broker/execute.ts";
import type { RevocationStore } from "../auth/revocations.ts";
import { HISTORY_UNAVAILABLE, HistoryUnavailable } from "../broker/history-log.ts";
import type { Counter } from "../metrics/registry.ts";
import type { Logger } from "../log.ts";
import { type CommandError, type CommandLimits, requestTooLarge } from "../protocol/commands.ts";
import type { CommandKind } from "../protocol/request.ts";
import { readRequest } from "../protocol/request.ts";

type Unary = (call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) => void;

/** A request whose message was over limits.max_body_bytes; never decoded. */
const TOO_BIG = Symbol("too big");
/** A request whose bytes are not the message: INVALID_ARGUMENT, as HTTP answers bad JSON 400. */
const MALFORMED = Symbol("malformed");

const STATUS_OF: Record<CommandError["code"], status> = {
  bad_request: status.INVALID_ARGUMENT,
  body_too_large: status.RESOURCE_EXHAUSTED,
  evt_too_large: status.RESOURCE_EXHAUSTED,
  batch_too_large: status.RESOURCE_EXHAUSTED,
};

/**
 * A method whose request deserializer checks this method's own limit on the wire bytes and never
 * throws inside the gRPC library; the library's one limit only stops what no method would take.
 */
export function boundedMethod(
  m: MethodDefinition<unknown, unknown>,
  maxBytes: number,
): MethodDefinition<unknown, unknown> {
  return {
    ...m,
    requestDeserialize: (bytes: Buffer) => {
      if (bytes.length > maxBytes) return TOO_BIG;
      try {
        return m.requestDeserialize(bytes);
      } catch {
        return MALFORMED;
      }
    },
  };
}

export interface UnaryDeps {
  /** The hub, or with mqtt.forward_api the whole cluster. */
  broker: Broker;
  /** Answers Presence; without it, no one is online. */
  presence?: PresenceSource;
  /** Where a Disconnect's revoke is kept, and what Revocations lists. */
  revocations?: RevocationStore;
  admin: AdminAuth;
  limits: CommandLimits;
  /** comet_grpc_requests_total, by method and status code. */
  requests: Counter;
  /** Called with the peer of every call (the TCP guard keeps the connection alive). */
  touch(peer: string): void;
  /** The client's address, as admission reads it for a stream: failed admin checks count against it. */
  client(call: ServerUnaryCall<unknown, unknown>): string;
  log: Logger;
}

export type UnaryName = "Publish" | "Broadcast" | "DumpSession" | "Batch" | "Presence" | "Disconnect" | "Revocations";

export function unaryMethods(deps: UnaryDeps): Record<UnaryName, Unary> {
  const { broker, admin, limits, requests, log } = deps;
  const sources = { presence: deps.presence, revocations: deps.revocations };

  /** The answer to one call: a reply, or a status with details. */
  async function answer(
    method: string,
    kind: CommandKind,
    call: ServerUnaryCall<unknown, unknown>,
  ): Promise<{ reply: unknown } | { code: status; details: string }> {
    const auth = call.metadata.get("authorization")[0];
    const verdict = admin.verdict(typeof auth === "string" ? auth : null, () => deps.client(call));
    if (verdict === "limited") {
      return {
        code: status.RESOURCE_EXHAUSTED,
        details: "too many failed admin authentications from this address: retry in a second",
      };
    }
    if (verdict === "unauthorized") {
      return { code: status.UNAUTHENTICATED, details: "missing or wrong admin bearer token" };
    }
    if (call.request === TOO_BIG) {
      const e = requestTooLarge("message", limits);
      return { code: STATUS_OF[e.code], details: e.detail };
    }
    if (call.request === MALFORMED) return { code: status.INVALID_ARGUMENT, details: "malformed protobuf" };
    const read = readRequest(kind, call.request, limits);
    if (!read.ok) return { code: STATUS_OF[read.error.code], details: read.error.detail };
    try {
      return { reply: await execute(broker, read.command, sources) };
    } catch (err) {
      if (err instanceof HistoryUnavailable) return { code: status.UNAVAILABLE, details: HISTORY_UNAVAILABLE };
      log.error("grpc handler failed", { method, error: String(err) });
      return { code: status.INTERNAL, details: "internal error" };
    }
  }

  const unary = (method: string, kind: CommandKind): Unary => {
    const ok = requests.with({ method, code: "OK" });
    return (call, cb) => {
      deps.touch(call.getPeer());
      void answer(method, kind, call).then((a) => {
        if ("reply" in a) {
          ok.inc();
          cb(null, a.reply);
        } else {
          requests.inc({ method, code: status[a.code] ?? String(a.code) });
          cb(a);
        }
      });
    };
  };

  return {
    Publish: unary("Publish", "publish"),
    Broadcast: unary("Broadcast", "broadcast"),
    DumpSession: unary("DumpSession", "dump"),
    Batch: unary("Batch", "batch"),
    Presence: unary("Presence", "presence"),
    Disconnect: unary("Disconnect", "disconnect"),
    Revocations: unary("Revocations", "revocations"),
  };
}
