/**
 * HTTP as a part of an instance: the API, the health checks and metrics, the demo page, and the
 * request handlers a runtime listener serves (WebSocket upgrades, SSE and NDJSON streams).
 */
import type { Broker } from "../broker/broker.ts";
import type { PresenceSource } from "../broker/execute.ts";
import type { AdminAuth } from "../auth/admin.ts";
import type { Config } from "../config/schema.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Logger } from "../log.ts";
import type { ApiMetrics } from "../metrics/api.ts";
import type { Registry } from "../metrics/registry.ts";
import { LoopFanout } from "../runtime/loop-fanout.ts";
import type { ServeHandlers } from "../runtime/types.ts";
import { type StreamTransport, streamTransport } from "../sse/subscribe.ts";
import { createApi } from "./api.ts";
import { createRoutes, type HostView, type Readiness } from "./routes.ts";
import { serveHandlers } from "./upgrade.ts";

export interface HttpPart {
  readonly handlers: ServeHandlers;
  /** The HTTP streams (SSE, NDJSON); ended before a runtime stops, which waits for open responses. */
  readonly streams: StreamTransport;
  /** How the hub reaches the HTTP streams: a loop, as native topics reach only WebSockets. */
  readonly streamFanout: LoopFanout;
}

export async function installHttp(
  core: { config: Config; gateway: Gateway; admin: AdminAuth; log: Logger; registry: Registry; api: ApiMetrics },
  deps: {
    broker: Broker;
    presence: PresenceSource;
    readiness: Readiness;
    /** A worker's host-wide /metrics and /readyz (src/workers/). */
    host?: HostView;
  },
): Promise<HttpPart> {
  const { config, gateway, admin, log } = core;
  const api = createApi({ config, broker: deps.broker, admin, metrics: core.api, presence: deps.presence });
  // Loaded only when enabled: the page's assets are embedded by a build-time macro.
  const ui = config.ui.enabled
    ? await (await import("../ui/routes.ts")).createUi(() => gateway.config, admin)
    : undefined;
  const routes = createRoutes({ api, registry: core.registry, readiness: deps.readiness, ui, host: deps.host });
  const streamFanout = new LoopFanout();
  const streams = streamTransport({ gateway, fanout: streamFanout, maxSendBuffer: config.limits.max_send_buffer });
  return { handlers: serveHandlers({ gateway, routes, streams, log }), streams, streamFanout };
}
