/**
 * `comet serve`: runs an instance. It never starts silently insecure: without a JWT key or admin
 * tokens it refuses, unless --dev, which binds to loopback, makes its own secrets and says so loudly.
 */
import { showAddress } from "../util/address.ts";
import { ConfigError, parseListen } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { checkRuntime, requireSecrets } from "../instance/preflight.ts";
import { checkStrength, } from "../config/strength.ts";
import { takeHeldSignals } from "./early-signals.ts";
import { createLogger, type Logger, withFields } from "../log.ts";
import { bridgeSettings } from "../bridge/settings.ts";
import { SupervisorChannel, workerRole } from "../workers/channel.ts";
import { WORKER_ENV } from "../workers/ipc.ts";
import { showListen } from "../workers/ports.ts";
import { type RunningHost, startHost, workerCount } from "../workers/start.ts";
import { WorkerStartError } from "../workers/supervisor.ts";
import { ListenError } from "../errors.ts";
import {
  type ListenAt,
  type PreparedServer,
  prepareServer,
  type RunningServer,
  startServer,
  type WorkerRole,
} from "../server.ts";
import { WorkerCapacity } from "../workers/capacity.ts";
import { readConfig } from "./config.ts";
import { devConfig, type Generated, printDevBanner } from "./dev.ts";
import { CliError, fail } from "./output.ts";

export interface ServeOptions {
  config?: string;
  listen?: string;
  dev?: boolean;
  /** --workers N: overrides the `workers` key. */
  workers?: number;
}


export async function serve(opts: ServeOptions): Promise<void> {
  const role = workerRole();
  if (role !== undefined) return serveWorker(opts, role);
  // Every signal is listened for before the start: a default action would end the process with no
  // drain, SIGHUP's at any time and SIGTERM's in the moment between the "listening" line and a
  // handler set after it. One that comes while starting is acted on once started; the start binds
  // local sockets only, so waiting for it does not hold a stop up.
  let running: Stoppable | undefined;
  const early: string[] = [];
  const onSignal = (signal: string) => (running ? act(running, signal) : early.push(signal));
  for (const signal of ["SIGHUP", "SIGINT", "SIGTERM"]) process.on(signal, () => onSignal(signal));
  // What came while the program loaded (bin/comet.ts held it), in the order it came.
  early.push(...takeHeldSignals());
  // A terminal that hung up (the SIGHUP a session's end sends) fails every write to it with EIO or
  // EPIPE, as an 'error' event that would end the process: its log lines are lost, the service not.
  process.stderr.on("error", () => {});

  const { cfg, generated } = serveConfig(opts);
  const log = createLogger(cfg.log.level, cfg.log.format);
  let stopping = false;
  const act = (target: Stoppable, signal: string) => {
    if (signal === "SIGHUP") {
      target.reload();
      return;
    }
    if (stopping) {
      log.warn("second signal: exiting at once", { signal });
      target.kill();
      process.exit(signal === "SIGINT" ? 130 : 143);
    }
    stopping = true;
    log.info("shutting down", { signal });
    target.drain().then(
      (clean) => process.exit(clean === false ? 1 : 0),
      (err) => {
        log.error("shutdown failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  const count = workerCount(opts.workers ?? cfg.workers);
  if (count > 1) {
    running = await superviseWorkers(opts, cfg, generated, count, log);
  } else {
    const server = await startOrExplain(cfg, log);
    running = {
      reload: () => server.reload(() => serveConfig(opts, generated).cfg),
      drain: () => server.drain(),
      kill() {},
    };
    if (opts.dev) {
      const gh = server.grpcPort === undefined ? "" : parseListen("grpc.listen", cfg.grpc.listen).host;
      const grpcAt =
        server.grpcPort === undefined ? undefined : showAddress(gh, server.grpcPort);
      printDevBanner(server.url, grpcAt, generated);
    }
  }
  for (const signal of early) act(running, signal);
}

/** What a signal acts on: one instance, or the supervisor of a host's workers. */
interface Stoppable {
  reload(): void;
  /** Resolves false when the stop was not clean (a worker did not exit 0). */
  drain(): Promise<unknown>;
  /** The second signal: what is still running goes at once. */
  kill(): void;
}

async function startOrExplain(cfg: Config, log: Logger, worker?: WorkerRole): Promise<RunningServer> {
  try {
    return await startServer(cfg, log, worker);
  } catch (err) {
    throw explainStart(err);
  }
}

/** A start failure as the CLI reports it: a weak setting exits like a bad value (2), a port names its address. */
function explainStart(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConfigError) return new CliError(err.message, 2);
  if (err instanceof ListenError && (err.key === "listen" || err.key === "grpc.listen")) {
    const why = err.code === "address_in_use" ? "address in use" : ((err.cause as Error)?.message ?? err.message);
    return new CliError(`serve: cannot listen on ${err.address}${err.key === "listen" ? "" : ` (${err.key})`}: ${why}`);
  }
  return new CliError(`serve: ${(err as Error).message}`);
}

/** `--workers N` with N > 1: this process supervises N workers (src/workers/) and serves no client itself. */
async function superviseWorkers(
  opts: ServeOptions,
  cfg: Config,
  generated: Generated,
  count: number,
  log: Logger,
): Promise<Stoppable> {
  // The secrets --dev made are every worker's, or each would make its own.
  const env: Record<string, string> = {};
  if (generated.secret) env.COMET_AUTH_JWT_HS256_SECRET = generated.secret;
  if (generated.admin) env.COMET_ADMIN_TOKENS = generated.admin;
  const flags = [...(opts.config ? ["--config", opts.config] : []), ...(opts.dev ? ["--dev"] : [])];
  let host: RunningHost;
  try {
    // A config the workers would refuse is refused here, before any starts.
    checkRuntime(cfg, count);
    bridgeSettings(cfg);
    host = await startHost({ cfg, count, flags, env, log });
  } catch (err) {
    if (err instanceof WorkerStartError) throw new CliError(`serve: ${err.message} (its log says why)`, err.exitCode);
    throw explainStart(err);
  }
  if (opts.dev) printDevBanner(host.url, host.grpcAt, generated, count);
  return {
    reload() {
      reloadSupervisor(opts, generated, log);
      host.reload();
    },
    drain: () => host.drain(),
    kill: () => host.kill(),
  };
}

/**
 * The supervisor's own part of a SIGHUP: its log.level (the only key of its own it can apply while
 * running). The workers read the file themselves; a file they refuse is refused here too, and
 * changes nothing.
 */
function reloadSupervisor(opts: ServeOptions, generated: Generated, log: Logger): void {
  let level: Config["log"]["level"];
  try {
    const cfg = serveConfig(opts, generated).cfg;
    checkStrength(cfg);
    level = cfg.log.level;
  } catch (err) {
    log.error("config reload refused: the running config stays", { reason: (err as Error).message });
    return;
  }
  log.setLevel(level);
  log.info("config reloaded", { log_level: level });
}

/**
 * A worker of `comet serve --workers N`: the same server, on ports it shares with its siblings,
 * every log line naming it. Its supervisor tells it to stop or reload over the pipe; SIGINT and
 * SIGHUP reach the whole process group from a terminal and are the supervisor's to act on, so
 * they are ignored here. SIGTERM (systemd's stop reaches every process of the unit) drains, once.
 * Every worker makes its server and waits to be told to listen: the host listens once every worker
 * can (src/workers/supervisor.ts); a spare waits to be given a dead worker's number.
 */
async function serveWorker(opts: ServeOptions, role: number | "spare"): Promise<void> {
  process.stderr.on("error", () => {});
  process.on("SIGINT", () => {});
  process.on("SIGHUP", () => {});
  takeHeldSignals();
  const { cfg } = serveConfig(opts);
  const named: { worker: number | string } = { worker: role };
  const log = withFields(createLogger(cfg.log.level, cfg.log.format), named);
  let prepared: PreparedServer | undefined;
  let server: RunningServer | undefined;
  let capacity: WorkerCapacity | undefined;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (!server) {
      // A spare, or a worker not listening yet: no session to drain.
      (prepared?.close() ?? Promise.resolve()).finally(() => process.exit(0));
      return;
    }
    log.info("shutting down");
    // A paused worker that drains below its lower mark does not listen again.
    capacity?.stop();
    server.drain().then(
      () => process.exit(0),
      (err) => {
        log.error("shutdown failed", { error: String(err) });
        process.exit(1);
      },
    );
  };
  const begin = async (n: number, at?: ListenAt) => {
    named.worker = n;
    process.env[WORKER_ENV] = String(n);
    if (!prepared || stopping) return;
    try {
      server = await prepared.listen(at);
    } catch (err) {
      throw explainStart(err);
    }
    capacity = new WorkerCapacity(server.gateway.capacity, server, (t) => channel.capacity(t), log);
    channel.serve(server);
    const grpcHost = server.grpcPort === undefined ? "" : parseListen("grpc.listen", cfg.grpc.listen).host;
    channel.up(
      new URL(server.url).host,
      server.grpcPort === undefined ? undefined : showListen({ host: grpcHost, port: server.grpcPort }),
    );
  };
  const channel = new SupervisorChannel({
    stop,
    reload: () => (server ?? prepared)?.reload(() => serveConfig(opts).cfg),
    become: (n, at) => begin(n, at).catch(fail),
    capacity: (say) => capacity?.on(say),
  });
  process.on("SIGTERM", stop);
  try {
    prepared = await prepareServer(cfg, log, { reusePort: true, host: channel });
  } catch (err) {
    throw explainStart(err);
  }
  if (stopping) return stop();
  // Numbered or spare, it listens when told: at the host's start, once every worker is made.
  channel.loaded();
}

/**
 * The config as `serve` runs it: --config FILE or COMET_CONFIG, the environment, the flags; with
 * --dev, its own overrides. A reload reads it the same way, and refuses what a start refuses.
 * `kept`: on a reload in --dev, the secrets made at start, given again rather than made anew: a
 * fresh one would be printed nowhere, and would lock out every token and page the banner served.
 */
function serveConfig(opts: ServeOptions, kept?: Generated): { cfg: Config; generated: Generated } {
  const read = readConfig(opts.config, { listen: opts.listen });
  const { cfg, generated } = opts.dev ? devConfig(read, opts, kept) : { cfg: read, generated: {} };
  requireSecrets(cfg);
  return { cfg, generated };
}
