/**
 * A worker's side of the pipe to its supervisor (ipc.ts): it answers the supervisor's questions
 * for itself, asks it for the host's answers (HostView, for /metrics and /readyz), and hears stop
 * and reload. When the pipe closes the supervisor is gone: the worker drains and exits rather
 * than hold the port as an orphan.
 */
import type { HostReadiness, HostView } from "../http/routes.ts";
import { isMessage, type Question, type ToSupervisor, type ToWorker, WORKER_ENV } from "./ipc.ts";

type HostAnswer = Extract<ToWorker, { t: "host" }>;

/** How long a worker waits for the host's answer before /metrics or /readyz fails. */
const HOST_ANSWER_MS = 5000;

export interface WorkerSelf {
  metricsText(): string;
  /** undefined when ready. */
  notReady(): string | undefined;
}

export interface ChannelEvents {
  stop(): void;
  reload(): void;
  /** Listen as worker n (on `at`'s ports, when given). */
  become(n: number, at?: { port: number; grpcPort?: number }): void;
  /** Full: leave the listening group, or listen again though full (src/workers/capacity.ts). */
  capacity(say: "leave" | "rejoin"): void;
}

/**
 * This process's role when a supervisor started it (with a pipe to it): its worker number, or
 * "spare" (a worker started ahead that waits for a number); undefined for a lone instance.
 */
export function workerRole(): number | "spare" | undefined {
  const raw = process.env[WORKER_ENV];
  if (raw === undefined || typeof process.send !== "function") return undefined;
  if (raw === "spare") return raw;
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export class SupervisorChannel implements HostView {
  private self: WorkerSelf | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (answer: HostAnswer) => void>();

  /** `events` hears stop and reload from the start: one that comes while starting is the caller's to hold. */
  constructor(private readonly events: ChannelEvents) {
    process.on("message", (m: unknown) => this.onMessage(m));
    // The supervisor exited (or was killed): nobody restarts this worker or answers for the host.
    process.on("disconnect", () => this.events.stop());
  }

  /** From now on, the supervisor's questions are answered by `self` (until then: starting). */
  serve(self: WorkerSelf): void {
    this.self = self;
  }

  /** Made, ready to become a worker. */
  loaded(): void {
    this.send({ t: "loaded" });
  }

  /** At limits.max_connections, or down to the lower mark again. */
  capacity(t: "full" | "room"): void {
    this.send({ t });
  }

  up(listen: string, grpc?: string): void {
    this.send({ t: "up", listen, grpc });
  }

  metrics(): Promise<string> {
    return this.ask("metrics").then((a) => a.answer ?? "");
  }

  async readiness(): Promise<HostReadiness> {
    // No answer for the host is an answer too: it cannot say it is ready.
    const a = await this.ask("ready").catch((err: Error) => ({ answer: err.message, full: undefined }));
    return { notReady: a.answer ?? undefined, full: a.full ?? [] };
  }

  private ask(q: Question): Promise<HostAnswer> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`workers: the supervisor did not answer for the host's ${q} within ${HOST_ANSWER_MS} ms`));
      }, HOST_ANSWER_MS);
      this.waiting.set(id, (msg) => {
        clearTimeout(timer);
        if (msg.error === undefined) resolve(msg);
        else reject(new Error(`workers: the host's ${q}: ${msg.error}`));
      });
      this.send({ t: "host", id, q });
    });
  }

  private onMessage(m: unknown): void {
    if (!isMessage(m)) return;
    const msg = m as ToWorker;
    switch (msg.t) {
      case "ask": {
        this.send({ t: "answer", id: msg.id, answer: this.answerFor(msg.q) });
        return;
      }
      case "host": {
        const done = this.waiting.get(msg.id);
        this.waiting.delete(msg.id);
        done?.(msg);
        return;
      }
      case "stop":
        this.events.stop();
        return;
      case "reload":
        this.events.reload();
        return;
      case "become":
        this.events.become(msg.n, msg.at);
        return;
      case "leave":
      case "rejoin":
        this.events.capacity(msg.t);
        return;
    }
  }

  private answerFor(q: Question): string | null {
    const self = this.self;
    if (q === "ready") return self ? (self.notReady() ?? null) : "starting";
    return self ? self.metricsText() : "";
  }

  private send(m: ToSupervisor): void {
    // The pipe may close while a worker is draining: what it would say then is for nobody.
    if (process.connected) process.send?.(m);
  }
}
