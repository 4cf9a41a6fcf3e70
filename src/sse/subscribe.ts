/**
 * Subscriptions over plain HTTP for networks that break WebSocket: `GET /comet/sse`, or a
 * subscribe path with `Accept: text/event-stream` (SSE) or `application/x-ndjson` (NDJSON). The
 * same gateway as a WebSocket (admission, max_connections, AUTH, the rooms claim, one session per
 * uid), downlink only: the token comes in a header or the query, the room in the query, and both
 * are fixed for the life of the stream.
 */
import type { Gateway } from "../gateway/gateway.ts";
import { MsgType, type Recover, type Uplink } from "../protocol/frames.ts";
import { errorResponse } from "../protocol/errors.ts";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import { refusalResponse } from "../protocol/refusal.ts";
import { parseEventId } from "../protocol/event-id.ts";
import { NDJSON_LINES, SSE_EVENTS } from "./formats.ts";
import { NDJSON_FRAMING, SseFraming } from "./framing.ts";
import { type StreamKind, StreamSocket } from "./socket.ts";

/** The path that serves SSE whatever Accept says (EventSource cannot set headers). */
export const SSE_PATH = "/comet/sse";

const NDJSON = "application/x-ndjson";
const EVENT_STREAM = "text/event-stream";

/**
 * Which stream a request asks for, or undefined for none. On a subscribe path only an Accept that
 * names one does (anything else is still the WebSocket's path: 426); on /comet/sse, SSE unless
 * Accept names NDJSON alone.
 */
export function streamKind(path: string, accept: string | null, subscribePath: boolean): StreamKind | undefined {
  const a = accept?.toLowerCase() ?? "";
  const sse = a.includes(EVENT_STREAM);
  const ndjson = a.includes(NDJSON);
  if (path === SSE_PATH) return ndjson && !sse ? "ndjson" : "sse";
  if (!subscribePath) return undefined;
  if (sse) return "sse";
  return ndjson ? "ndjson" : undefined;
}

/** `Authorization: Bearer <JWT>` wins over `?token=`; "" when neither is given. */
function readToken(req: Request, query: URLSearchParams): string {
  const h = req.headers.get("authorization");
  if (h !== null) return /^bearer\s+/i.test(h) ? h.replace(/^bearer\s+/i, "").trim() : "";
  return query.get("token") ?? "";
}

/** A recover from no known position: answered false for each stream, which the reader is told of. */
function unknownPositions(rid: string): Recover {
  const none = { epoch: "", seq: 0 };
  return rid === "" ? { u: none, w: none } : { u: none, r: none, w: none };
}

export interface StreamTransport {
  /** The answer to a stream request: an HTTP refusal, or the stream once its session is live. */
  open(req: Request, kind: StreamKind, peer: () => string): Response | Promise<Response>;
  /**
   * A browser's CORS preflight for a cross-origin stream that sends Authorization or
   * Last-Event-ID (fetch does; EventSource sends neither and needs none): allowed for an Origin
   * of allowed_origins.
   */
  preflight(req: Request): Response;
  /** Ends every stream (1001), for a stop without a drain: a runtime waits for open responses. */
  closeAll(): void;
}

export function streamTransport(deps: {
  gateway: Pick<Gateway, "connect" | "closeTransport" | "admitter">;
  fanout: LoopFanout;
  maxSendBuffer: number;
}): StreamTransport {
  const { gateway, fanout, maxSendBuffer } = deps;
  return {
    open(req, kind, peer) {
      if (req.method !== "GET") {
        return errorResponse(405, "method_not_allowed", `${req.method} not allowed: use GET`, { allow: "GET" });
      }
      const origin = req.headers.get("origin");
      // A cross-origin EventSource reads the stream only when the answer allows its origin, which
      // admission has just checked against allowed_origins.
      const headers: Record<string, string> = origin ? { "access-control-allow-origin": origin, vary: "origin" } : {};
      // A reconnect's Last-Event-ID (SSE, or an NDJSON client that writes one) recovers as an
      // AUTH's recover does; one this server did not write recovers nothing: a gap in all three.
      const lastId = req.headers.get("last-event-id");
      const query = new URL(req.url).searchParams;
      const rid = query.get("rid") ?? "";
      const recover = lastId === null ? undefined : (parseEventId(lastId) ?? unknownPositions(rid));
      const framing = kind === "sse" ? new SseFraming(recover) : NDJSON_FRAMING;
      const format = kind === "sse" ? SSE_EVENTS : NDJSON_LINES;
      const socket = new StreamSocket(kind, format, framing, fanout, maxSendBuffer, headers);
      const connected = gateway.connect(socket, { peer: peer(), origin, forwardedFor: req.headers.get("x-forwarded-for") });
      if (!connected.ok) {
        // Without a refusal, limits.max_connections: the socket was closed 4503, which answers 503.
        return connected.refusal ? refusalResponse(connected.refusal) : socket.response;
      }
      // The same path as a WebSocket's first frame: verification, the rooms claim, the login, the
      // recovery. The query (which may hold the token) is read here and dropped: never kept, never logged.
      const auth: Uplink = { t: MsgType.AUTH, token: readToken(req, query), join: rid, positions: true };
      if (recover) auth.recover = recover;
      connected.events.onUplink({ ok: true, frame: auth });
      return socket.response;
    },
    preflight(req) {
      const origin = req.headers.get("origin");
      if (origin === null || !gateway.admitter.originAllowed(origin)) {
        return errorResponse(403, "forbidden_origin", "origin not in allowed_origins");
      }
      return new Response(null, {
        status: 204,
        headers: {
          "access-control-allow-origin": origin,
          "access-control-allow-methods": "GET",
          "access-control-allow-headers": "authorization, last-event-id, accept",
          "access-control-max-age": "600",
          vary: "origin",
        },
      });
    },
    closeAll() {
      gateway.closeTransport("sse", 1001, "server stopping");
      gateway.closeTransport("ndjson", 1001, "server stopping");
    },
  };
}
