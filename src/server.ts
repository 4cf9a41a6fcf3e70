/** Wires the parts of one instance: config → auth, hub, gateway, HTTP, runtime listener. */
import { AdminAuth } from "./auth/admin.ts";
import { createVerifier } from "./auth/jwt.ts";
import { type Bridge, startBridge } from "./bridge/mqtt.ts";
import type { Config } from "./config/schema.ts";
import { Gateway } from "./gateway/gateway.ts";
import { createApi } from "./http/api.ts";
import { createMetrics } from "./http/metrics.ts";
import { createRoutes } from "./http/routes.ts";
import { Hub } from "./hub/hub.ts";
import { type Logger, silentLogger } from "./log.ts";
import { BunFanout, listenBun } from "./runtime/bun.ts";

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly gateway: Gateway;
  /** The MQTT bridge, when mqtt.url or mqtt.embedded.listen is set. */
  readonly bridge: Bridge | undefined;
  stop(): Promise<void>;
}

export async function startServer(config: Config, log: Logger = silentLogger): Promise<RunningServer> {
  const verify = createVerifier(config);
  const metrics = createMetrics();
  const fanout = new BunFanout();
  const hub = new Hub(fanout);
  const gateway = new Gateway(config, hub, verify, metrics, log);
  const { registry } = metrics;
  registry.gauge("comet_connections", "Open WebSocket connections", () => gateway.connections.size);
  registry.gauge("comet_sessions", "Authenticated sessions", () => hub.sessions.size);
  registry.gauge("comet_rooms", "Rooms with at least one session", () => hub.rooms.size);
  registry.counterFn("comet_pushes_delivered_total", "PUSH frames handed to sessions", () => hub.stats.pushesDelivered);
  const api = createApi({ config, hub, admin: new AdminAuth(config.admin.tokens), metrics });
  const bridge = await startBridge({ config, hub, registry, log });
  const routes = createRoutes({ api, registry, readiness: { notReady: () => bridge?.notReady() } });
  let listener: ReturnType<typeof listenBun>;
  try {
    listener = listenBun({ host: config.listen.host, port: config.listen.port, gateway, fanout, routes });
  } catch (err) {
    await bridge?.close();
    throw err;
  }
  gateway.start();
  const host = listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname;
  const urlHost = host === "0.0.0.0" || host === "[::]" ? "127.0.0.1" : host;
  log.info("listening", { listen: `${host}:${listener.port}` });
  return {
    url: `http://${urlHost}:${listener.port}`,
    port: listener.port,
    hub,
    gateway,
    bridge,
    async stop() {
      gateway.stop();
      await listener.stop();
      await bridge?.close();
    },
  };
}
