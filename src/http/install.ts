/**
 * HTTP as a part of an instance: the API, the health checks and metrics, the demo page and the
 * operators' console, and the request handlers a runtime listener serves (WebSocket upgrades, SSE
 * and NDJSON streams).
 */
import type { Broker } from "../broker/broker.ts";
import type { PresenceSource } from "../broker/execute.ts";
import type { AdminAuth } from "../auth/admin.ts";
import type { RevocationStore, RevocationTable } from "../auth/revocations.ts";
import type { Config } from "../config/schema.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { ApiMetrics } from "../metrics/api.ts";
import type { Registry } from "../metrics/registry.ts";
import type { PresenceView } from "../presence/view.ts";
import { LoopFanout } from "../runtime/loop-fanout.ts";
import type { ServeHandlers } from "../runtime/types.ts";
import { type StreamTransport, streamTransport } from "../sse/subscribe.ts";
import { createApi } from "./api.ts";
import { createRoutes, type HostView, type Readiness } from "./routes.ts";
import { serveHandlers } from "./upgrade.ts";
import type { UiHandler } from "../ui/routes.ts";

export interface HttpPart {
  readonly handlers: ServeHandlers;
  /** The HTTP streams (SSE, NDJSON); ended before a runtime stops, which waits for open responses. */
  readonly streams: StreamTransport;
  /** How the hub reaches the HTTP streams: a loop, as native topics reach only WebSockets. */
  readonly streamFanout: LoopFanout;
  /** The console's activity streams (ui.enabled), ended with the HTTP streams. */
  readonly consoleStreams?: { closeAll(): void };
}

/** What HTTP is installed with, of the instance's core (instance/core.ts). */
export interface HttpCore {
  config: Config;
  gateway: Gateway;
  admin: AdminAuth;
  log: Logger;
  registry: Registry;
  api: ApiMetrics;
  hub: Hub;
  /** This instance's id (the console names it). */
  id: string;
  revocations: RevocationTable;
}

export async function installHttp(
  core: HttpCore,
  deps: {
    broker: Broker;
    /** Presence answers; the console lists its live instances. */
    presence: PresenceSource & Pick<PresenceView, "liveServers">;
    readiness: Readiness;
    /** A worker's host-wide /metrics and /readyz (src/workers/). */
    host?: HostView;
    /** Where revocations are kept, when not only in the core's table (history.store: redis). */
    revocations?: RevocationStore;
  },
): Promise<HttpPart> {
  const { config, gateway, admin, log } = core;
  const { presence } = deps;
  const api = createApi({
    config,
    broker: deps.broker,
    admin,
    metrics: core.api,
    presence,
    revocations: deps.revocations ?? core.revocations,
  });
  const ui = config.ui.enabled ? await installUi(core, () => presence.liveServers()) : undefined;
  const routes = createRoutes({
    api,
    registry: core.registry,
    readiness: deps.readiness,
    ui: ui?.handle,
    host: deps.host,
  });
  const streamFanout = new LoopFanout();
  const streams = streamTransport({ gateway, fanout: streamFanout, maxSendBuffer: config.limits.max_send_buffer });
  const handlers = serveHandlers({ gateway, routes, streams, log });
  return { handlers, streams, streamFanout, consoleStreams: ui?.activity };
}

/** The demo page and the console. Loaded only when enabled: their assets are embedded by a build-time macro. */
async function installUi(core: HttpCore, servers: () => readonly string[]) {
  const { gateway, admin, hub, id } = core;
  const page = await (await import("../ui/routes.ts")).createUi(() => gateway.config, admin);
  const panel = (await import("../ui/console.ts")).createConsole({ hub, admin, id, servers });
  const handle: UiHandler = (req, path, client) => page(req, path, client) ?? panel.handle(req, path, client);
  return { handle, activity: panel.activity };
}
