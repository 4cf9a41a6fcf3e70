/**
 * The supervisor of `comet serve --workers N`: it starts N workers (this same program, as
 * `serve`, with WORKER_ENV set) and has them listen once all are made, restarts one that dies with
 * a backoff (backoff.ts), relays stop and reload, tells a full worker to leave the listening group
 * or stay (listening.ts), and answers the host-wide questions (/metrics summed, /readyz) by asking
 * every worker over the pipe (host-answers.ts). It holds no client's socket: the workers share the
 * listening ports themselves.
 */
import type { Subprocess } from "bun";
import type { Logger } from "../log.ts";
import { BACKOFF_MAX_MS, restartAfter } from "./backoff.ts";
import { hostMetrics, hostReady, Questions } from "./host-answers.ts";
import { isMessage, type Question, type ToSupervisor, type ToWorker, WORKER_ENV } from "./ipc.ts";
import { fresh, type Member, rebalance } from "./listening.ts";

/**
 * A spare: a worker process started ahead, its server made (config read, bridge started) but
 * not listening, that waits to be given a number. A restart hands the dead worker's number to
 * it, so the new worker listens at once, without starting a runtime, loading the program and
 * making its server (a second or more on a busy host); then a new spare starts in the background.
 */
const SPARE = "spare";

export interface SupervisorOptions {
  count: number;
  /** The argv of a worker (this program, `serve`, its flags). */
  argv: string[];
  /** Added to this process's environment for every worker. */
  env: Record<string, string>;
  /**
   * With a port 0 to share: worker 1 listens first, binds it, and its "up" tells the port, which
   * the others are given; what this answers is added to the environment of every worker started
   * after (spares, restarts). A port settled by this process and released could be taken meanwhile
   * (by any outgoing connection); one a worker holds cannot.
   */
  settle?: (first: { listen: string; grpc?: string }) => Record<string, string>;
  log: Logger;
}

interface Slot extends Member {
  proc: Subprocess | undefined;
  /** Made and waiting to be told to listen: the host's start waits for every one. */
  loaded: boolean;
  startedAt: number;
  /** Deaths in a row (reset by a stable run). */
  deaths: number;
  restarts: number;
  restart: ReturnType<typeof setTimeout> | undefined;
  readonly questions: Questions;
}

export class Supervisor {
  private readonly slots: Slot[];
  private stopping = false;
  private starting = true;
  private startFailed: ((err: WorkerStartError) => void) | undefined;
  private allUp: (() => void) | undefined;
  private allExited: (() => void) | undefined;
  /** Who each process is: a slot's worker, or the spare. */
  private readonly owner = new Map<Subprocess, Slot | typeof SPARE>();
  private spare: { proc: Subprocess; loaded: boolean } | undefined;

  constructor(private readonly o: SupervisorOptions) {
    this.slots = Array.from({ length: o.count }, (_, i) => {
      const slot: Slot = {
        n: i + 1,
        proc: undefined,
        up: false,
        full: false,
        paused: false,
        loaded: false,
        startedAt: 0,
        deaths: 0,
        restarts: 0,
        restart: undefined,
        questions: new Questions(i + 1, (m) => this.send(slot, m)),
      };
      return slot;
    });
  }

  /**
   * Starts every worker; resolves once all listen, rejects when one exits first (and stops the
   * rest). None listens before all are made: a worker that listened alone would take every
   * connection of a reconnect storm until the others came, up to its open-file limit.
   */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      this.allUp = resolve;
      this.startFailed = reject;
    });
    for (const slot of this.slots) this.spawn(slot);
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
      fresh(slot, false);
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
    for (const slot of this.slots) if (slot.loaded) this.send(slot, { t: "reload" });
    // The spare read the config when it started: it reads it again with the others.
    if (this.spare?.loaded) this.spare.proc.send({ t: "reload" } satisfies ToWorker);
  }

  /** The host's answer: every worker's metrics summed, or why it is not ready (null: ready) and who is full. */
  async answer(q: Question): Promise<{ answer: string | null; full?: number[] }> {
    if (q === "ready") return hostReady(this.slots);
    return { answer: await hostMetrics(this.slots) };
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
      slot.loaded = spare.loaded;
      if (spare.loaded) this.send(slot, { t: "become", n: slot.n });
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
        this.onLoaded(slot);
        return;
      case "up":
        this.onUp(slot, msg);
        return;
      case "answer":
        slot.questions.answered(msg.id, msg.answer);
        return;
      case "host":
        this.answer(msg.q).then(
          (a) => this.send(slot, { t: "host", id: msg.id, ...a }),
          (err: Error) => this.send(slot, { t: "host", id: msg.id, answer: null, error: err.message }),
        );
        return;
      case "full":
      case "room":
        slot.full = msg.t === "full";
        // Listening again (room) is the worker's own doing: it needs nobody's leave.
        if (!slot.full) slot.paused = false;
        this.rebalance();
        return;
    }
  }

  /**
   * A worker made and waiting. At the host's start, none listens until all are made; then all are
   * told at once, or with a port 0 to share, worker 1 first (onUp tells the others its port).
   * Later (a restart, or a spare claimed while it was loading), it listens at once.
   */
  private onLoaded(slot: Slot): void {
    slot.loaded = true;
    if (!this.starting) this.send(slot, { t: "become", n: slot.n });
    else if (this.slots.every((s) => s.loaded)) {
      for (const s of this.o.settle ? this.slots.slice(0, 1) : this.slots) this.send(s, { t: "become", n: s.n });
    }
  }

  private onUp(slot: Slot, msg: Extract<ToSupervisor, { t: "up" }>): void {
    fresh(slot, true);
    this.o.log.info("worker listening", { worker: slot.n, pid: slot.proc?.pid, listen: msg.listen, grpc: msg.grpc });
    if (this.starting && this.o.settle && slot.n === 1) {
      Object.assign(this.o.env, this.o.settle(msg));
      const portOf = (at: string) => Number(/:(\d+)$/.exec(at)?.[1]);
      const at = { port: portOf(msg.listen), grpcPort: msg.grpc === undefined ? undefined : portOf(msg.grpc) };
      for (const s of this.slots.slice(1)) this.send(s, { t: "become", n: s.n, at });
    }
    if (this.starting && this.slots.every((s) => s.up)) {
      this.starting = false;
      this.allUp?.();
      this.spawnSpare();
    }
    // A worker that listens again lets a full one that stayed leave.
    this.rebalance();
  }

  private rebalance(): void {
    if (this.stopping) return;
    for (const order of rebalance(this.slots)) {
      const slot = this.slots[order.n - 1] as Slot;
      const why = order.t === "leave" ? "full worker leaves the listening group" : "full worker listens: no other does";
      this.o.log.info(why, { worker: slot.n });
      this.send(slot, { t: order.t });
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
    fresh(slot, false);
    slot.loaded = false;
    slot.questions.failAll();
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
    const next = restartAfter(slot.deaths, lived);
    slot.deaths = next.deaths;
    const fields = { ...how, lived_ms: lived, restart_in_ms: next.delay, deaths_in_a_row: next.deaths };
    if (next.crashLoop) this.o.log.error("worker crash loop: restarts backed off", fields);
    else this.o.log.warn("worker died: restarting", fields);
    slot.restart = setTimeout(() => {
      slot.restart = undefined;
      slot.restarts++;
      this.spawn(slot);
    }, next.delay);
    // The others may all have left the listening group: one listens again meanwhile.
    this.rebalance();
  }

  private checkExited(): void {
    if (this.slots.every((s) => !s.proc || s.proc.exitCode !== null || s.proc.signalCode !== null)) this.allExited?.();
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
