/** Wires the parts of one instance: config → auth, hub, gateway, HTTP, runtime listener. */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { AdminAuth } from "./auth/admin.ts";
import { ADMIN_FAILURES_PER_SECOND, FailureLimiter } from "./auth/failures.ts";
import { buildVerifier } from "./auth/jwt.ts";
import { parseListen } from "./config/load.ts";
import { checkStrength } from "./config/strength.ts";
import { type Bridge, instanceId, startBridge } from "./bridge/mqtt.ts";
import type { Config } from "./config/schema.ts";
import { Gateway } from "./gateway/gateway.ts";
import { type GrpcListener, listenGrpc } from "./grpc/server.ts";
import { createApi } from "./http/api.ts";
import { createMetrics } from "./metrics/registry.ts";
import { registerGauges } from "./http/gauges.ts";
import { createRoutes, type HostView } from "./http/routes.ts";
import { serveHandlers } from "./http/upgrade.ts";
import { ListenError } from "./errors.ts";
import { Hub } from "./hub/hub.ts";
import { type Logger, silentLogger } from "./log.ts";
import { runtimeAdapter } from "./runtime/listen.ts";
import type { Listener } from "./runtime/types.ts";
import { LoopFanout } from "./runtime/loop-fanout.ts";
import { streamTransport } from "./sse/subscribe.ts";
import { type ReloadOutcome, Reloader } from "./reload.ts";
import { PresenceView, soloServers } from "./presence/view.ts";
import { Webhooks } from "./webhooks/hooks.ts";

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

export interface ListenAt {
  port: number;
  grpcPort?: number;
}

export async function prepareServer(
  config: Config,
  log: Logger = silentLogger,
  worker?: WorkerRole,
): Promise<PreparedServer> {
  checkStrength(config);
  const keys = buildVerifier(config);
  const metrics = createMetrics();
  const runtime = await runtimeAdapter();
  const grpcAddr = config.grpc.listen ? parseListen("grpc.listen", config.grpc.listen) : undefined;
  if (grpcAddr && !runtime.capabilities.grpc) throw new Error(`grpc.listen: gRPC is not served on ${runtime.name}`);
  if (config.ui.enabled && !runtime.capabilities.demoPage) {
    throw new Error(`ui.enabled: the demo page is not served on ${runtime.name}`);
  }
  const compress = config.websocket.compression === "on";
  if (compress && !runtime.capabilities.compression) {
    throw new Error(
      `websocket.compression: on needs permessage-deflate, which ${runtime.name} cannot negotiate; set it off, or run on Bun`,
    );
  }
  const hub = new Hub({
    history: { size: config.history.size, ttl: config.history.ttl, maxBytes: config.history.max_bytes },
  });
  const gateway = new Gateway(config, hub, keys.verify, metrics, log, runtime.collectGarbage);
  const { registry } = metrics;
  let grpc: GrpcListener | undefined;
  registerGauges(
    registry,
    hub,
    gateway,
    () => grpc?.sockets ?? [],
    () => streams.sockets,
  );
  const failures = (outcome: string) => {
    const c = metrics.adminAuthFailures.with({ outcome });
    c.inc(0); // both series exist from the start, so that a rate over them is defined
    return c;
  };
  const admin = new AdminAuth(
    config.admin.tokens,
    new FailureLimiter(ADMIN_FAILURES_PER_SECOND, {
      unauthorized: failures("unauthorized"),
      limited: failures("rate_limited"),
    }),
  );
  const id = instanceId();
  let bridge: Bridge | undefined;
  const webhooks = new Webhooks(config.webhooks, { registry, log, server: id });
  const transitions = registry.counter(
    "comet_presence_transitions_total",
    "Presence transitions emitted here, by type",
  );
  const flaps = registry.counter(
    "comet_presence_flaps_suppressed_total",
    "Reconnects within presence.offline_grace: OFFLINE transitions that did not happen",
  );
  const presence = new PresenceView({
    servers: soloServers(id),
    sessions: hub.sessions,
    graceMs: config.presence.offline_grace,
    emit: (t) => {
      transitions.inc({ type: t.type });
      bridge?.presenceTransition(t);
      webhooks.presence(t);
    },
    suppressed: () => flaps.inc(),
  });
  registry.gaugeSeries(
    "comet_presence_online",
    "Users online: with a session here (local), in the cluster view (cluster)",
    () => [
      [{ view: "local" }, hub.sessions.size],
      [{ view: "cluster" }, presence.size],
    ],
  );
  // Subscribed for HEARD only while a webhook wants it: HEARD fires on every uplink frame.
  let unlistenWebhooks = () => {};
  const listenWebhooks = () => {
    unlistenWebhooks();
    unlistenWebhooks =
      webhooks.count > 0 ? hub.onActivity((a) => webhooks.activity(a), { heard: webhooks.wants("HEARD") }) : () => {};
  };
  listenWebhooks();
  const reloader = new Reloader(
    {
      gateway,
      admin,
      log,
      reloads: metrics.configReloads,
      webhooks: (list) => {
        webhooks.reload(list);
        listenWebhooks();
      },
    },
    keys.fingerprint,
  );
  // Loaded only when enabled: the page's assets are embedded by a build-time macro.
  const ui = config.ui.enabled
    ? await (await import("./ui/routes.ts")).createUi(() => gateway.config, admin)
    : undefined;
  const tls = config.tls.cert_file || config.tls.key_file ? readTls(config) : undefined;
  bridge = await startBridge({ config, hub, registry, log, id, presence });
  // After the bridge's listener: a session's activity goes out before the transition it causes.
  hub.onActivity((a, s) => presence.local(a, s), { heard: false });
  // With mqtt.forward_api the bridge's target acts on the whole cluster; otherwise it is the hub.
  const target = bridge?.target ?? hub;
  const api = createApi({ config, target, admin, metrics, presence });
  const readiness = { notReady: () => (gateway.draining ? "shutting down" : bridge?.notReady()) };
  const routes = createRoutes({ api, registry, readiness, ui, host: worker?.host });
  // HTTP streams (SSE, NDJSON) are reached by a loop: native topics reach only WebSockets.
  const streamFanout = new LoopFanout();
  const streams = streamTransport({ gateway, fanout: streamFanout, maxSendBuffer: config.limits.max_send_buffer });
  const stopPresence = async () => {
    // Its grace timers go with it: with the bridge, the other instances emit what was pending.
    presence.close();
    unlistenWebhooks();
    await webhooks.flush(2000);
    webhooks.close();
  };
  return {
    reload: (read) => reloader.reload(read),
    close: async () => {
      await bridge?.close();
      await stopPresence();
    },
    async listen(at?: ListenAt): Promise<RunningServer> {
      const { host } = config.listen;
      const port = at?.port ?? config.listen.port;
      let listener: Listener;
      try {
        listener = await runtime.listen({
          host,
          port,
          tls,
          handlers: serveHandlers({ gateway, routes, streams, log }),
          maxUplinkBytes: config.limits.max_uplink_bytes,
          maxSendBuffer: config.limits.max_send_buffer,
          compression: compress ? { minBytes: config.websocket.compression_min_bytes } : undefined,
          reusePort: worker?.reusePort,
        });
      } catch (err) {
        await bridge?.close();
        throw ListenError.from("listen", `${host.includes(":") ? `[${host}]` : host}:${port}`, err);
      }
      // The native fan-out first, so WebSocket latency is unchanged by gRPC streams beside it.
      hub.addFanout(listener.fanout);
      hub.addFanout(streamFanout);
      if (grpcAddr) {
        // gRPC streams are reached by a loop beside the native topics; without gRPC, nothing is added.
        const loop = new LoopFanout();
        try {
          grpc = await listenGrpc({
            host: grpcAddr.host,
            port: at?.grpcPort ?? grpcAddr.port,
            reusePort: worker?.reusePort,
            tls,
            config,
            gateway,
            target,
            presence,
            admin,
            fanout: loop,
            registry,
            log,
          });
        } catch (err) {
          await listener.stop();
          await bridge?.close();
          throw ListenError.from("grpc.listen", config.grpc.listen, err);
        }
        hub.addFanout(loop);
      }
      gateway.start();
      const bound = listener.hostname.includes(":") ? `[${listener.hostname}]` : listener.hostname;
      const urlHost = bound === "0.0.0.0" || bound === "[::]" ? "127.0.0.1" : bound;
      const grpcAt = grpc && `${grpc.host.includes(":") ? `[${grpc.host}]` : grpc.host}:${grpc.port}`;
      log.info("listening", { listen: `${bound}:${listener.port}`, grpc: grpcAt, runtime: runtime.name });
      const stop = async () => {
        gateway.stop();
        await grpc?.stop();
        // A runtime's stop waits for the responses it is still sending: end the streams first.
        streams.closeAll();
        await listener.stop();
        // After the listener: the sessions' LEAVE_ROOM/OFFLINE are flushed to the broker first.
        await bridge?.close();
        await stopPresence();
      };
      return {
        url: `${tls ? "https" : "http"}://${urlHost}:${listener.port}`,
        port: listener.port,
        hub,
        gateway,
        bridge,
        presence,
        id,
        grpcPort: grpc?.port,
        reload: (read) => reloader.reload(read),
        metricsText: () => registry.render(),
        notReady: () => readiness.notReady(),
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
          await gateway.drain(config.shutdown.drain);
          log.info("drained", { sessions, took_ms: Date.now() - started });
          await stop();
        },
        stop,
      };
    },
  };
}

function readTls(config: Config): { cert: string; key: string } {
  const { cert_file, key_file } = config.tls;
  if (!cert_file || !key_file) throw new Error("tls: set both tls.cert_file and tls.key_file, or neither");
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new Error(`tls.${key}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read("cert_file", cert_file);
  const key = read("key_file", key_file);
  checkKeyPair(cert, cert_file, key, key_file);
  return { cert, key };
}

/**
 * Bun and Deno refuse a key that is not the certificate's only once they listen, in their TLS
 * library's words (KEY_VALUES_MISMATCH, KeyMismatch), which name neither file nor key: check
 * first, and say which key to fix.
 */
function checkKeyPair(certPem: string, certFile: string, keyPem: string, keyFile: string): void {
  const parse = <T>(key: string, file: string, what: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new Error(`tls.${key}: ${file} is not ${what}: ${(err as Error).message}`);
    }
  };
  // The first certificate of the chain is the server's own.
  const cert = parse("cert_file", certFile, "a PEM certificate", () => new X509Certificate(certPem));
  const key = parse("key_file", keyFile, "a PEM private key", () => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) {
    throw new Error(
      `tls.key_file: ${keyFile} is not the private key of the certificate in tls.cert_file (${certFile})`,
    );
  }
}
