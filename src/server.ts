/**
 * One instance as a list of parts, each installed by its own area on the core (instance/core.ts):
 * webhooks, presence, the MQTT bridge, HTTP; then, on listen, the runtime listener, gRPC and the
 * gateway's sweep. Readiness, reload and close go through the list (instance/part.ts).
 */
import type { Bridge } from "./bridge/mqtt.ts";
import { installBridge } from "./bridge/install.ts";
import { LocalBroker } from "./broker/broker.ts";
import { installHistoryStore } from "./broker/install.ts";
import type { Config } from "./config/schema.ts";
import type { Gateway } from "./gateway/gateway.ts";
import { installHttp } from "./http/install.ts";
import type { HostView } from "./http/routes.ts";
import type { Hub } from "./hub/hub.ts";
import { makeCore } from "./instance/core.ts";
import { listenAll } from "./instance/listen.ts";
import { Parts } from "./instance/part.ts";
import { type Logger, silentLogger } from "./log.ts";
import { installPresence } from "./presence/install.ts";
import type { PresenceView } from "./presence/view.ts";
import { type ReloadOutcome, Reloader } from "./reload.ts";
import { bracketHost, showAddress } from "./util/address.ts";
import { installWebhooks } from "./webhooks/install.ts";

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly hub: Hub;
  readonly gateway: Gateway;
  /** The MQTT bridge, when mqtt.url or mqtt.embedded.listen is set. */
  readonly bridge: Bridge | undefined;
  /** Who is online: this instance's sessions, and the cluster's with the bridge. */
  readonly presence: PresenceView;
  /** This instance's id: the `server` of its activity, presence and webhooks. */
  readonly id: string;
  /** The bound gRPC port; undefined when grpc.listen is empty. */
  readonly grpcPort: number | undefined;
  /**
   * Reads the config again with `read` and applies what can change without dropping a connection
   * (src/reload.ts); a config `read` throws on, or one a start would refuse, changes nothing.
   */
  reload(read: () => Config): ReloadOutcome;
  /** This instance's own metrics and readiness (a worker answers them to its supervisor). */
  metricsText(): string;
  notReady(): string | undefined;
  /** Graceful shutdown: not ready at once, sessions closed 1001 over shutdown.drain, then stop. */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

/** How a worker of `comet serve --workers N` differs from a lone instance (src/workers/). */
export interface WorkerRole {
  /** SO_REUSEPORT on listen and grpc.listen. */
  reusePort: boolean;
  /** /metrics and /readyz for the whole host. */
  host: HostView;
}

export async function startServer(
  config: Config,
  log: Logger = silentLogger,
  worker?: WorkerRole,
): Promise<RunningServer> {
  return (await prepareServer(config, log, worker)).listen();
}

/** An instance made but not listening yet: a spare worker waits so (src/workers/), to start at once. */
export interface PreparedServer {
  listen(): Promise<RunningServer>;
  reload(read: () => Config): ReloadOutcome;
  /** Gives up without listening: the bridge closes. */
  close(): Promise<void>;
}

export async function prepareServer(
  config: Config,
  log: Logger = silentLogger,
  worker?: WorkerRole,
): Promise<PreparedServer> {
  const core = await makeCore(config, log);
  const { hub, registry } = core;
  const parts = new Parts();
  parts.add(core.part);
  const webhooks = parts.add(installWebhooks(core));
  const presence = parts.add(installPresence(core));
  // history.store: redis: the shared log numbers every publication (broker/install.ts).
  const store = await installHistoryStore(core);
  if (store) parts.add(store);
  const bridged = await installBridge(core, presence, store?.ingress);
  if (bridged) parts.add(bridged);
  presence.onTransition((t) => webhooks.hooks.presence(t));
  // With mqtt.forward_api the bridge's broker reaches the whole cluster; otherwise this instance.
  const reach = bridged?.bridge.broker ?? new LocalBroker(hub);
  const broker = store ? store.broker(bridged?.bridge.forwarder, (t) => reach.dump(t)) : reach;
  const readiness = { notReady: () => parts.notReady() };
  const http = await installHttp(core, { broker, presence: presence.view, readiness, host: worker?.host });
  const reloader = new Reloader(
    {
      gateway: core.gateway,
      log,
      parts,
      reloads: registry.counter(
        "comet_config_reloads_total",
        "Config reloads (SIGHUP), by outcome: ok, or invalid (refused; the running config stays)",
      ),
    },
    core.keysFingerprint,
  );
  return {
    reload: (read) => reloader.reload(read),
    close: () => parts.close(),
    async listen(): Promise<RunningServer> {
      const { listener, grpc } = await listenAll(core, parts, {
        http,
        broker,
        presence: presence.view,
        reusePort: worker?.reusePort,
      });
      const bound = bracketHost(listener.hostname);
      const urlHost = bound === "0.0.0.0" || bound === "[::]" ? "127.0.0.1" : bound;
      const grpcAt = grpc && showAddress(grpc.host, grpc.port);
      log.info("listening", { listen: `${bound}:${listener.port}`, grpc: grpcAt, runtime: core.runtime.name });
      const stop = () => parts.close();
      return {
        url: `${core.tls ? "https" : "http"}://${urlHost}:${listener.port}`,
        port: listener.port,
        hub,
        gateway: core.gateway,
        bridge: bridged?.bridge,
        presence: presence.view,
        id: core.id,
        grpcPort: grpc?.port,
        reload: (read) => reloader.reload(read),
        metricsText: () => registry.render(),
        notReady: () => parts.notReady(),
        async drain() {
          const started = Date.now();
          const sessions = hub.sessions.size;
          log.info("draining", { sessions, drain_ms: config.shutdown.drain });
          await core.gateway.drain(config.shutdown.drain);
          log.info("drained", { sessions, took_ms: Date.now() - started });
          await stop();
        },
        stop,
      };
    },
  };
}
