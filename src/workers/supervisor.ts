/**
 * The supervisor of `comet serve --workers N`: it starts N workers (this same program, as
 * `serve`, with WORKER_ENV set), restarts one that dies with a backoff, relays stop and reload,
 * and answers the host-wide questions (/metrics summed, /readyz) by asking every worker over the
 * pipe. It holds no client's socket: the workers share the listening ports themselves.
 */
import type { Subprocess } from "bun";
import type { Logger } from "../log.ts";
import { isMessage, type Question, type ToSupervisor, type ToWorker, WORKER_ENV } from "./ipc.ts";
import { sumMetrics } from "./sum-metrics.ts";

/** Restart delays: 100 ms after the first death, doubled per death in a row, at most 5 s. */
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5000;
/** A worker that lived this long before dying is not part of a crash loop: its backoff starts over. */
const STABLE_MS = 10_000;
/** From this many deaths in a row, each restart is logged as an error: a crash loop. */
const CRASH_LOOP = 3;
/**
 * A spare: a worker process started ahead, its server made (config read, bridge connected) but
 * not listening, that waits to be given a number. A restart hands the dead worker's number to
 * it, so the new worker listens at once, without starting a runtime, loading the program and
 * making its server (a second or more on a busy host); then a new spare starts in the background.
 */
const SPARE = "spare";

/** A worker that does not answer the supervisor's question within this is left out (metrics) or not ready. */
const ANSWER_MS = 2000;

export interface SupervisorOptions {
  count: number;
  /** The argv of a worker (this program, `serve`, its flags). */
  argv: string[];
  /** Added to this process's environment for every worker. */
  env: Record<string, string>;
  /**
   * With a port 0 to share: worker 1 starts alone, binds it, and its "up" tells the port; what this
   * answers is added to the environment of every worker started after. A port settled by this
   * process and released could be taken meanwhile (by any outgoing connection); one a worker holds
   * cannot.
   */
  settle?: (first: { listen: string; grpc?: string }) => Record<string, string>;
  log: Logger;
}

interface Slot {
  readonly n: number;
  proc: Subprocess | undefined;
  /** Listening and not stopped since. */
  up: boolean;
  startedAt: number;
  /** Deaths in a row (reset by a stable run). */
  deaths: number;
  restarts: number;
  restart: ReturnType<typeof setTimeout> | undefined;
  /** Questions sent to it and not answered yet. */
  readonly asked: Map<number, { ok(answer: string | null): void; fail(err: Error): void }>;
}

export class Supervisor {
  private readonly slots: Slot[];
  private nextId = 1;
  private stopping = false;
  private starting = true;
  private startFailed: ((err: WorkerStartError) => void) | undefined;
  private allUp: (() => void) | undefined;
  private allExited: (() => void) | undefined;
  /** Who each process is: a slot's worker, or the spare. */
  private readonly owner = new Map<Subprocess, Slot | typeof SPARE>();
  private spare: { proc: Subprocess; loaded: boolean } | undefined;

  constructor(private readonly o: SupervisorOptions) {
    this.slots = Array.from({ length: o.count }, (_, i) => ({
      n: i + 1,
      proc: undefined,
      up: false,
      startedAt: 0,
      deaths: 0,
      restarts: 0,
      restart: undefined,
      asked: new Map(),
    }));
  }

  /** Starts every worker; resolves once all listen, rejects when one exits first (and stops the rest). */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.allUp = resolve;
      this.startFailed = reject;
    });
    for (const slot of this.o.settle ? this.slots.slice(0, 1) : this.slots) this.spawn(slot);
    return ready;
  }

  get pids(): number[] {
    return this.slots.map((s) => s.proc?.pid ?? 0);
  }

  /** Every worker drains; resolves when all have exited, with whether all exited 0. */
  stop(): Promise<boolean> {
    this.stopping = true;
    const exited = new Promise<void>((resolve) => {
      this.allExited = resolve;
    });
    this.dropSpare();
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      slot.restart = undefined;
      slot.up = false;
      if (slot.proc && slot.proc.exitCode === null && slot.proc.signalCode === null) this.send(slot, { t: "stop" });
    }
    this.checkExited();
    return exited.then(() => this.slots.every((s) => s.proc?.exitCode === 0 || s.proc === undefined));
  }

  /** The operator's second signal: no drain. */
  kill(): void {
    this.stopping = true;
    this.spare?.proc.kill("SIGKILL");
    for (const slot of this.slots) {
      clearTimeout(slot.restart);
      slot.proc?.kill("SIGKILL");
    }
  }

  reload(): void {
    for (const slot of this.slots) if (slot.up) this.send(slot, { t: "reload" });
    // The spare read the config when it started: it reads it again with the others.
    if (this.spare?.loaded) this.spare.proc.send({ t: "reload" } satisfies ToWorker);
  }

  /** The host's answer: every worker's metrics summed, or why the host is not ready (null: ready). */
  async answer(q: Question): Promise<string | null> {
    if (q === "ready") {
      for (const slot of this.slots) {
        if (!slot.up) return `worker ${slot.n} is not running`;
      }
      const whys = await Promise.all(this.slots.map((s) => this.ask(s, "ready").catch((e: Error) => e.message)));
      const i = whys.findIndex((w) => w !== null);
      return i < 0 ? null : `worker ${i + 1}: ${whys[i]}`;
    }
    const texts = await Promise.all(this.slots.map((s) => (s.up ? this.ask(s, "metrics").catch(() => null) : null)));
    return sumMetrics(texts.filter((t): t is string => t !== null)) + this.ownMetrics(texts);
  }

  /**
   * The supervisor's own families: how many workers there are, which are up, how often each
   * restarted, and each one's connections (how evenly the kernel spreads them).
   */
  private ownMetrics(texts: ReadonlyArray<string | null>): string {
    let out = "# HELP comet_workers Worker processes configured (workers)\n# TYPE comet_workers gauge\n";
    out += `comet_workers ${this.slots.length}\n`;
    out += "# HELP comet_worker_up 1 while the worker listens, else 0\n# TYPE comet_worker_up gauge\n";
    for (const s of this.slots) out += `comet_worker_up{worker="${s.n}"} ${s.up ? 1 : 0}\n`;
    out +=
      "# HELP comet_worker_restarts_total Workers restarted after they died, by worker\n# TYPE comet_worker_restarts_total counter\n";
    for (const s of this.slots) out += `comet_worker_restarts_total{worker="${s.n}"} ${s.restarts}\n`;
    out +=
      "# HELP comet_worker_connections Open connections, by worker (absent: no answer)\n# TYPE comet_worker_connections gauge\n";
    for (const [i, text] of texts.entries()) {
      const m = text === null ? null : /^comet_connections (\S+)$/m.exec(text);
      if (m) out += `comet_worker_connections{worker="${i + 1}"} ${m[1]}\n`;
    }
    return out;
  }

  /**
   * Starts slot's worker: the spare when there is one (told its number at once if it is loaded,
   * else as soon as it is: it is ahead of a process started now), else a new process.
   */
  private spawn(slot: Slot): void {
    slot.startedAt = Date.now();
    const spare = this.spare;
    if (spare) {
      this.spare = undefined;
      this.owner.set(spare.proc, slot);
      slot.proc = spare.proc;
      if (spare.loaded) spare.proc.send({ t: "become", n: slot.n } satisfies ToWorker);
      this.spawnSpare();
      return;
    }
    slot.proc = this.process(String(slot.n));
    this.owner.set(slot.proc, slot);
  }

  private process(role: string): Subprocess {
    const proc: Subprocess = Bun.spawn(this.o.argv, {
      env: { ...process.env, ...this.o.env, [WORKER_ENV]: role },
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (m) => this.onMessage(proc, m),
      onExit: (_p, code): void => this.onExit(proc, code),
    });
    return proc;
  }

  private spawnSpare(): void {
    if (this.stopping) return;
    const proc = this.process(SPARE);
    this.owner.set(proc, SPARE);
    this.spare = { proc, loaded: false };
  }

  private dropSpare(): void {
    if (this.spare) this.spare.proc.send({ t: "stop" } satisfies ToWorker);
    this.spare = undefined;
  }

  private onMessage(proc: Subprocess, m: unknown): void {
    if (!isMessage(m)) return;
    const msg = m as ToSupervisor;
    const slot = this.owner.get(proc);
    if (slot === SPARE) {
      if (msg.t === "loaded" && this.spare?.proc === proc) this.spare.loaded = true;
      return;
    }
    if (!slot) return;
    switch (msg.t) {
      case "loaded":
        // A spare claimed while it was loading.
        this.send(slot, { t: "become", n: slot.n });
        return;
      case "up": {
        slot.up = true;
        this.o.log.info("worker listening", {
          worker: slot.n,
          pid: slot.proc?.pid,
          listen: msg.listen,
          grpc: msg.grpc,
        });
        if (this.starting && this.o.settle && slot.n === 1) {
          Object.assign(this.o.env, this.o.settle(msg));
          for (const s of this.slots.slice(1)) this.spawn(s);
        }
        if (this.starting && this.slots.every((s) => s.up)) {
          this.starting = false;
          this.allUp?.();
          this.spawnSpare();
        }
        return;
      }
      case "answer": {
        const q = slot.asked.get(msg.id);
        slot.asked.delete(msg.id);
        q?.ok(msg.answer);
        return;
      }
      case "host":
        this.answer(msg.q).then(
          (answer) => this.send(slot, { t: "host", id: msg.id, answer }),
          (err: Error) => this.send(slot, { t: "host", id: msg.id, answer: null, error: err.message }),
        );
        return;
    }
  }

  private onExit(proc: Subprocess, code: number | null): void {
    const slot = this.owner.get(proc);
    this.owner.delete(proc);
    if (slot === SPARE) {
      // A spare that died is replaced, unless it was dropped or the host is stopping.
      if (this.spare?.proc === proc) {
        this.o.log.warn("spare worker exited: starting another", { pid: proc.pid, code });
        this.spare = undefined;
        setTimeout(() => this.spawnSpare(), BACKOFF_MAX_MS);
      }
      return;
    }
    if (!slot || slot.proc !== proc) return;
    slot.up = false;
    for (const q of slot.asked.values()) q.fail(new Error(`worker ${slot.n} exited`));
    slot.asked.clear();
    const how = { worker: slot.n, pid: proc.pid, code, signal: proc.signalCode ?? undefined };
    if (this.stopping) {
      this.o.log.info("worker exited", how);
      this.checkExited();
      return;
    }
    if (this.starting) {
      // A worker that cannot start (a config it refuses, a port it cannot bind) would fail the
      // same way again: the start fails, with the worker's own exit status.
      this.starting = false;
      this.o.log.error("worker exited while starting: stopping the others", how);
      this.stopping = true;
      for (const s of this.slots) if (s !== slot && s.proc) s.proc.kill("SIGKILL");
      this.startFailed?.(new WorkerStartError(slot.n, code ?? 1));
      return;
    }
    const lived = Date.now() - slot.startedAt;
    slot.deaths = lived >= STABLE_MS ? 1 : slot.deaths + 1;
    const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (slot.deaths - 1));
    const fields = { ...how, lived_ms: lived, restart_in_ms: delay, deaths_in_a_row: slot.deaths };
    if (slot.deaths >= CRASH_LOOP) this.o.log.error("worker crash loop: restarts backed off", fields);
    else this.o.log.warn("worker died: restarting", fields);
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      slot.restarts++;
      this.spawn(slot);
    }, delay);
  }

  private checkExited(): void {
    if (this.slots.every((s) => !s.proc || s.proc.exitCode !== null || s.proc.signalCode !== null)) this.allExited?.();
  }

  private ask(slot: Slot, q: Question): Promise<string | null> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        slot.asked.delete(id);
        reject(new Error(`worker ${slot.n} did not answer within ${ANSWER_MS} ms`));
      }, ANSWER_MS);
      slot.asked.set(id, {
        ok: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.send(slot, { t: "ask", id, q });
    });
  }

  private send(slot: Slot, m: ToWorker): void {
    try {
      slot.proc?.send(m);
    } catch {
      // The worker is exiting; its exit is handled by onExit.
    }
  }
}

/** A worker exited before every worker listened: the start failed, with its exit status. */
export class WorkerStartError extends Error {
  override name = "WorkerStartError";
  constructor(
    readonly worker: number,
    readonly exitCode: number,
  ) {
    super(`worker ${worker} exited with status ${exitCode} while starting`);
  }
}
