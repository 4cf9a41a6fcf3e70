/** Every plain HTTP request (not a WebSocket upgrade): the API, health checks, metrics. */
import { errorResponse } from "../protocol/errors.ts";
import { isApiPath } from "./api.ts";
import { SUBSCRIBE_PATHS, upgradeRequired } from "./upgrade.ts";
import type { createApi } from "./api.ts";
import type { UiHandler } from "../ui/routes.ts";
import type { Registry } from "../metrics/registry.ts";

export interface Readiness {
  /** undefined when ready, else why not. */
  notReady(): string | undefined;
}

/**
 * The host's answers, for a worker of `comet serve --workers N` (src/workers/): every worker's
 * metrics summed, and ready only when every worker is. Gathered through the supervisor.
 */
export interface HostView {
  metrics(): Promise<string>;
  readiness(): Promise<HostReadiness>;
}

export interface HostReadiness {
  /** undefined when ready, else why not. */
  notReady: string | undefined;
  /** The workers at limits.max_connections, which take no new connection. */
  full: number[];
}

const METRICS_HEADERS = { "content-type": "text/plain; version=0.0.4; charset=utf-8" };

const readyResponse = (why: string | undefined, full: number[] = []): Response => {
  // Named only when some are, so that a host with room answers as a lone instance does.
  const named = full.length > 0 ? { full } : {};
  return why === undefined
    ? Response.json({ status: "ready", ...named })
    : Response.json({ status: "not ready", reason: why, ...named }, { status: 503 });
};

export function createRoutes(deps: {
  api: ReturnType<typeof createApi>;
  registry: Registry;
  readiness: Readiness;
  ui?: UiHandler;
  host?: HostView;
}) {
  const { api, registry, readiness, ui, host } = deps;
  /** `client` answers the client's address (the peer's, or X-Forwarded-For from trusted_proxies). */
  return (req: Request, path: string, client: () => string): Response | Promise<Response> => {
    if (isApiPath(path)) return api.serve(req, path, client);
    const page = ui?.(req, path, client);
    if (page) return page;
    if (SUBSCRIBE_PATHS.has(path)) {
      return upgradeRequired();
    }
    if (req.method === "GET" || req.method === "HEAD") {
      if (path === "/healthz") return Response.json({ status: "ok" });
      if (path === "/readyz") {
        // A worker that is itself not ready says so without asking the others.
        const why = readiness.notReady();
        if (why !== undefined || !host) return readyResponse(why);
        return host.readiness().then((r) => readyResponse(r.notReady, r.full));
      }
      if (path === "/metrics") {
        if (host) return host.metrics().then((text) => new Response(text, { headers: METRICS_HEADERS }));
        return new Response(registry.render(), { headers: METRICS_HEADERS });
      }
    }
    if (path === "/healthz" || path === "/readyz" || path === "/metrics") {
      return errorResponse(405, "method_not_allowed", `${req.method} not allowed: use GET`, { allow: "GET" });
    }
    return errorResponse(404, "not_found", `no such path: ${path}`);
  };
}
