/**
 * `comet serve --workers N` with N > 1: this process becomes the supervisor. It settles the ports,
 * starts the host's broker, starts the workers and answers the signals; it serves no client.
 */
import { showAddress } from "../util/address.ts";
import { parseListen } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";
import { startHostBroker } from "./host-broker.ts";
import { checkFree, showListen } from "./ports.ts";
import { selfArgv } from "./self.ts";
import { Supervisor } from "./supervisor.ts";

export { workerCount } from "../config/workers.ts";

export interface HostStart {
  cfg: Config;
  count: number;
  /** The worker's `serve` flags beyond what the environment carries (--config, --dev). */
  flags: string[];
  /** Config keys every worker gets on top of the file and environment (the --dev secrets). */
  env: Record<string, string>;
  log: Logger;
}

export interface RunningHost {
  /** Where the host listens, as the single-instance banner says it. */
  readonly url: string;
  /** The bound gRPC HOST:PORT, when grpc.listen is set. */
  readonly grpcAt: string | undefined;
  reload(): void;
  /** Every worker drains; then the broker closes. Resolves true when every worker exited 0. */
  drain(): Promise<boolean>;
  /** No drain: every worker is killed. */
  kill(): void;
}

export async function startHost(h: HostStart): Promise<RunningHost> {
  const { cfg, log } = h;
  if (cfg.history.store === "memory") {
    // Each worker numbers and keeps its own streams: a client that reconnects lands on any of them.
    log.warn(
      "history.store is memory: recover works only when a client returns to the same worker; set history.store: redis (history.redis.urls) to recover on any worker",
      { workers: h.count },
    );
  }
  const broker = await startHostBroker(cfg, log);
  let listen = cfg.listen;
  let grpc = cfg.grpc.listen ? parseListen("grpc.listen", cfg.grpc.listen) : undefined;
  try {
    // A port some process holds stops the start here, before any worker runs.
    await checkFree(
      grpc
        ? [
            ["listen", listen],
            ["grpc.listen", grpc],
          ]
        : [["listen", listen]],
    );
  } catch (err) {
    await broker.close();
    throw err;
  }
  const env: Record<string, string> = {
    ...h.env,
    ...broker.env,
    COMET_WORKERS: "1",
    COMET_LISTEN: showListen(listen),
  };
  if (grpc) env.COMET_GRPC_LISTEN = showListen(grpc);
  // Port 0 (tests, --dev): worker 1 binds a port and the others are given it.
  const portOf = (at: string): number => Number(/:(\d+)$/.exec(at)?.[1]);
  const settle =
    listen.port === 0 || grpc?.port === 0
      ? (first: { listen: string; grpc?: string }) => {
          listen = { host: listen.host, port: portOf(first.listen) };
          if (grpc && first.grpc) grpc = { host: grpc.host, port: portOf(first.grpc) };
          const more: Record<string, string> = { COMET_LISTEN: showListen(listen) };
          if (grpc) more.COMET_GRPC_LISTEN = showListen(grpc);
          return more;
        }
      : undefined;
  const supervisor = new Supervisor({
    count: h.count,
    argv: [...selfArgv(), "serve", ...h.flags],
    env,
    log,
    settle,
  });
  log.info("workers starting", { workers: h.count, listen: showListen(listen), broker: broker.url });
  try {
    await supervisor.start();
  } catch (err) {
    await broker.close();
    throw err;
  }
  const shown = listen.host === "0.0.0.0" || listen.host === "::" ? "127.0.0.1" : listen.host;
  const url = `${cfg.tls.cert_file ? "https" : "http"}://${showAddress(shown, listen.port)}`;
  log.info("listening", {
    listen: showListen(listen),
    grpc: grpc && showListen(grpc),
    workers: h.count,
    pids: supervisor.pids,
    supervisor: process.pid,
  });
  return {
    url,
    grpcAt: grpc && showListen(grpc),
    reload: () => supervisor.reload(),
    async drain() {
      const clean = await supervisor.stop();
      await broker.close();
      return clean;
    },
    kill: () => supervisor.kill(),
  };
}
