/**
 * One instance as a list of parts, each installed by its own area on the core (instance/core.ts):
 * webhooks, presence, the MQTT bridge, HTTP; then, on listen, the runtime listener, gRPC and the
 * gateway's sweep. Readiness, reload and close go through the list (instance/part.ts).
 */
import type { Bridge } from "./bridge/mqtt.ts";
import { installBridge } from "./bridge/install.ts";
import { LocalBroker } from "./broker/broker.ts";
import { installHistoryStore } from "./shared-log/install.ts";
import type { Config } from "./config/schema.ts";
import type { Gateway } from "./gateway/gateway.ts";
import { installHttp } from "./http/install.ts";
import type { HostView } from "./http/routes.ts";
import type { Hub } from "./hub/hub.ts";
import { type Core, makeCore } from "./instance/core.ts";
import { type ListenAt, listenAll } from "./instance/listen.ts";

export type { ListenAt } from "./instance/listen.ts";
import { Parts } from "./part.ts";
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
  /**
   * Stops taking new connections on every port and keeps those open, or takes them again: a full
   * worker leaves its ports' SO_REUSEPORT groups (src/workers/capacity.ts). Only where the runtime
   * can (capabilities.workers).
   */
  pause(): void;
  resume(): Promise<void>;
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

/**
 * An instance made but not listening yet: every worker waits so (src/workers/) until the host
 * listens, and a spare until it takes a dead worker's place.
 */
export interface PreparedServer {
  /** `at`: ports other than the config's (a worker given the port that worker 1 bound for port 0). */
  listen(at?: ListenAt): Promise<RunningServer>;
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
  // history.store: redis: the shared log numbers every publication (src/shared-log/install.ts).
  const store = await installHistoryStore(core);
  if (store) parts.add(store);
  const bridged = await installBridge(core, presence, store?.ingress);
  if (bridged) parts.add(bridged);
  presence.onTransition((t) => webhooks.hooks.presence(t));
  // With mqtt.forward_api the bridge's broker reaches the whole cluster; otherwise this instance.
  const reach = bridged?.bridge.broker ?? new LocalBroker(hub);
  const broker = store ? store.broker(bridged?.bridge.forwarder, reach) : reach;
  const readiness = { notReady: () => parts.notReady() };
  const revocations = store?.revocations;
  const http = await installHttp(core, { broker, presence: presence.view, readiness, host: worker?.host, revocations });
  const reloader = reloaderOf(core, parts);
  return {
    reload: (read) => reloader.reload(read),
    close: () => parts.close(),
    async listen(at?: ListenAt): Promise<RunningServer> {
      const { listener, grpc } = await listenAll(core, parts, {
        at,
        http,
        broker,
        presence: presence.view,
        reusePort: worker?.reusePort,
        revocations,
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
        pause() {
          listener.pause?.();
          grpc?.pause();
        },
        async resume() {
          await listener.resume?.();
          await grpc?.resume();
        },
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

/** SIGHUP's way through the instance: the gateway's keys and the log level here, the rest by each part. */
function reloaderOf(core: Core, parts: Parts): Reloader {
  const reloads = core.registry.counter(
    "comet_config_reloads_total",
    "Config reloads (SIGHUP), by outcome: ok, or invalid (refused; the running config stays)",
  );
  return new Reloader({ gateway: core.gateway, log: core.log, parts, reloads }, core.keysFingerprint);
}
