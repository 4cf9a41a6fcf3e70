/**
 * The HTTP side of the runtime contract: which requests become WebSockets (an upgrade on a
 * subscribe path that admission lets in), how a refusal reads as HTTP, and every other request
 * to the routes.
 */
import type { Refusal, RefusalReason } from "../gateway/admission.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Logger } from "../log.ts";
import { errorResponse, internalError } from "../protocol/errors.ts";
import { type ServeHandlers, Upgrade } from "../runtime/types.ts";

/** Where a WebSocket subscribes (the short path is what older clients use). */
export const SUBSCRIBE_PATHS: ReadonlySet<string> = new Set(["/comet/Comet/Subscribe", "/comet/subscribe"]);

const HTTP_REFUSAL: Record<RefusalReason, { status: number; id: string; headers?: Record<string, string> }> = {
  draining: { status: 503, id: "shutting_down" },
  origin: { status: 403, id: "forbidden_origin" },
  connect_rate: { status: 429, id: "too_many_connects", headers: { "retry-after": "1" } },
};

export function refusalResponse(r: Refusal): Response {
  const h = HTTP_REFUSAL[r.reason];
  return errorResponse(h.status, h.id, r.detail, h.headers);
}

export const upgradeRequired = (): Response =>
  errorResponse(426, "upgrade_required", "this path takes a WebSocket upgrade", { upgrade: "websocket" });

const isWebSocketUpgrade = (req: Request): boolean => req.headers.get("upgrade")?.toLowerCase() === "websocket";

export function serveHandlers(deps: {
  gateway: Gateway;
  routes: (req: Request, path: string, client: () => string) => Response | Promise<Response>;
  log: Logger;
}): ServeHandlers {
  const { gateway, routes, log } = deps;
  return {
    request(req, path, peer) {
      if (SUBSCRIBE_PATHS.has(path) && isWebSocketUpgrade(req)) {
        const a = gateway.admit({
          peer: peer(),
          origin: req.headers.get("origin"),
          forwardedFor: req.headers.get("x-forwarded-for"),
        });
        return a.ok ? new Upgrade(a.ip) : refusalResponse(a.refusal);
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
    open: (socket, ip) => gateway.open(socket, ip),
  };
}
