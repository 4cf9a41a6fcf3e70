/**
 * The HTTP side of the runtime contract: which requests become WebSockets (an upgrade on a
 * subscribe path that admission lets in), which become HTTP streams (SSE, NDJSON: src/sse/), and
 * every other request to the routes.
 */
import type { Gateway } from "../gateway/gateway.ts";
import type { Logger } from "../log.ts";
import { errorResponse, internalError } from "../protocol/errors.ts";
import { type ServeHandlers, Streaming, Upgrade } from "../runtime/types.ts";
import { SSE_PATH, type StreamTransport, streamKind } from "../sse/subscribe.ts";
import { refusalResponse } from "../protocol/refusal.ts";

/** Where a WebSocket subscribes (the short path is what older clients use). */
export const SUBSCRIBE_PATHS: ReadonlySet<string> = new Set(["/comet/Comet/Subscribe", "/comet/subscribe"]);

export const upgradeRequired = (): Response =>
  errorResponse(
    426,
    "upgrade_required",
    "this path takes a WebSocket upgrade, or Accept: text/event-stream (SSE) or application/x-ndjson",
    { upgrade: "websocket" },
  );

const isWebSocketUpgrade = (req: Request): boolean => req.headers.get("upgrade")?.toLowerCase() === "websocket";

export function serveHandlers(deps: {
  gateway: Pick<Gateway, "admit" | "connect" | "admitter">;
  routes: (req: Request, path: string, client: () => string) => Response | Promise<Response>;
  streams: StreamTransport;
  log: Logger;
}): ServeHandlers {
  const { gateway, routes, streams, log } = deps;
  return {
    request(req, path, peer) {
      const subscribePath = SUBSCRIBE_PATHS.has(path);
      if (subscribePath && isWebSocketUpgrade(req)) {
        // Headers admission does not read are not read: each is a lookup on every connect.
        const { admitter } = gateway;
        const a = gateway.admit({
          peer: peer(),
          origin: admitter.readsOrigin ? req.headers.get("origin") : null,
          forwardedFor: admitter.readsForwardedFor ? req.headers.get("x-forwarded-for") : null,
        });
        return a.ok ? new Upgrade(a.ip) : refusalResponse(a.refusal);
      }
      // Only two paths take a stream: the Accept header is read for no other request.
      if (subscribePath || path === SSE_PATH) {
        if (req.method === "OPTIONS" && req.headers.has("access-control-request-method")) return streams.preflight(req);
        const kind = streamKind(path, req.headers.get("accept"), subscribePath);
        if (kind) return new Streaming(streams.open(req, kind, peer));
      }
      // Read only when needed (a failed admin check): most requests never ask for it.
      const client = () =>
        gateway.admitter.clientIp({ peer: peer(), forwardedFor: req.headers.get("x-forwarded-for") });
      return routes(req, path, client);
    },
    // A handshake the runtime could not complete (e.g. no Sec-WebSocket-Key) is not an upgrade.
    upgradeFailed: () => upgradeRequired(),
    error(err) {
      log.error("http handler failed", { error: String(err) });
      return internalError();
    },
    open(socket, ip) {
      const connected = gateway.connect(socket, { admitted: ip });
      return connected.ok ? connected.events : undefined;
    },
  };
}
