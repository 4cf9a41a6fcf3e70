/**
 * The console's data endpoints, beside the HTTP API it calls for the rest (DumpSession, Presence,
 * Publish, Broadcast, Disconnect): read-only, GET, each behind the admin token as the API is
 * (src/auth/admin.ts; failures counted per address, 429 past the limit).
 *   GET /console/instances  {self, instances}: this instance's id and the live instances it knows
 *   GET /console/history    a stream's recent history (console-history.ts)
 *   GET /console/activity   the hub's activity as it happens, SSE (console-activity.ts)
 * The page itself (/console) is the empty shell served with the demo page's files (routes.ts).
 */
import type { AdminAuth } from "../auth/admin.ts";
import type { Hub } from "../hub/hub.ts";
import { adminRefusal, errorResponse } from "../protocol/errors.ts";
import { type ActivityLimits, ActivityStreams } from "./console-activity.ts";
import { readHistory } from "./console-history.ts";
import { secured, type UiHandler } from "./routes.ts";

export interface ConsoleDeps {
  hub: Hub;
  admin: AdminAuth;
  /** This instance's id. */
  id: string;
  /** The live instances (the presence view's registry: the cluster's with the bridge). */
  servers: () => readonly string[];
  activityLimits?: ActivityLimits;
}

export interface ConsoleRoutes {
  readonly handle: UiHandler;
  /** The activity streams, ended before the runtime stops. */
  readonly activity: ActivityStreams;
}

const DATA_HEADERS = { "content-type": "application/json", "cache-control": "no-store" };

const json = (body: unknown): Response => new Response(JSON.stringify(body), { headers: DATA_HEADERS });

export function createConsole(deps: ConsoleDeps): ConsoleRoutes {
  const { hub, admin, id } = deps;
  const activity = new ActivityStreams(
    (listener) => hub.onActivity(listener, { heard: false }),
    id,
    deps.activityLimits,
  );

  const endpoints: ReadonlyMap<string, (url: URL) => Response> = new Map([
    ["/console/instances", () => json({ self: id, instances: deps.servers() })],
    [
      "/console/history",
      (url: URL) => {
        const read = readHistory(hub, url.searchParams);
        return read.ok ? json(read.answer) : errorResponse(400, "bad_request", read.detail);
      },
    ],
    [
      "/console/activity",
      () => {
        const body = activity.open();
        if (!body) return errorResponse(503, "too_many_streams", "too many console activity streams open");
        return new Response(body, {
          headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store" },
        });
      },
    ],
  ]);

  const handle: UiHandler = (req, path, client) => {
    const endpoint = endpoints.get(path);
    if (!endpoint) return undefined;
    if (req.method !== "GET") {
      return secured(errorResponse(405, "method_not_allowed", `${req.method} not allowed: use GET`, { allow: "GET" }));
    }
    const verdict = admin.verdict(req.headers.get("authorization"), client);
    if (verdict !== "ok") return secured(adminRefusal(verdict));
    return secured(endpoint(new URL(req.url)));
  };
  return { handle, activity };
}
