/**
 * The host's answers to /metrics and /readyz, which the supervisor makes by asking every worker
 * over its pipe (a worker that does not answer within ANSWER_MS is left out of the metrics, and
 * is not ready), with its own families added: how many workers, which are up, restarted, full.
 */
import type { Question, ToWorker } from "./ipc.ts";
import { sumMetrics } from "./sum-metrics.ts";

/** A worker that does not answer the supervisor's question within this is left out (metrics) or not ready. */
const ANSWER_MS = 2000;

/** The questions asked of one worker and not answered yet. */
export class Questions {
  private nextId = 1;
  private readonly asked = new Map<number, { ok(answer: string | null): void; fail(err: Error): void }>();

  constructor(
    private readonly n: number,
    private readonly send: (m: ToWorker) => void,
  ) {}

  ask(q: Question): Promise<string | null> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.asked.delete(id);
        reject(new Error(`worker ${this.n} did not answer within ${ANSWER_MS} ms`));
      }, ANSWER_MS);
      this.asked.set(id, {
        ok: (answer) => {
          clearTimeout(timer);
          resolve(answer);
        },
        fail: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      });
      this.send({ t: "ask", id, q });
    });
  }

  answered(id: number, answer: string | null): void {
    const q = this.asked.get(id);
    this.asked.delete(id);
    q?.ok(answer);
  }

  /** The worker exited: nothing it was asked will be answered. */
  failAll(): void {
    for (const q of this.asked.values()) q.fail(new Error(`worker ${this.n} exited`));
    this.asked.clear();
  }
}

/** What the supervisor knows of one worker. */
export interface WorkerState {
  readonly n: number;
  readonly up: boolean;
  readonly full: boolean;
  readonly restarts: number;
  readonly questions: Questions;
}

/** Why the host is not ready (null: ready), and which workers are full. */
export async function hostReady(workers: readonly WorkerState[]): Promise<{ answer: string | null; full: number[] }> {
  const full = workers.filter((w) => w.up && w.full).map((w) => w.n);
  const down = workers.find((w) => !w.up);
  if (down) return { answer: `worker ${down.n} is not running`, full };
  const whys = await Promise.all(workers.map((w) => w.questions.ask("ready").catch((e: Error) => e.message)));
  const i = whys.findIndex((w) => w !== null);
  if (i >= 0) return { answer: `worker ${i + 1}: ${whys[i]}`, full };
  // A host that takes no new connection is not ready for one; the worker that still listens refuses them 4503.
  if (full.length === workers.length) {
    return { answer: "every worker is full (limits.max_connections): new connections are refused", full };
  }
  return { answer: null, full };
}

/** Every worker's metrics summed, and the supervisor's own families. */
export async function hostMetrics(workers: readonly WorkerState[]): Promise<string> {
  const texts = await Promise.all(workers.map((w) => (w.up ? w.questions.ask("metrics").catch(() => null) : null)));
  return sumMetrics(texts.filter((t): t is string => t !== null)) + ownMetrics(workers, texts);
}

/**
 * How many workers there are, which are up, how often each restarted, which are full, and each
 * one's connections (how evenly the kernel spreads them).
 */
function ownMetrics(workers: readonly WorkerState[], texts: ReadonlyArray<string | null>): string {
  const family = (name: string, help: string, type: string) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n`;
  let out = family("comet_workers", "Worker processes configured (workers)", "gauge");
  out += `comet_workers ${workers.length}\n`;
  out += family(
    "comet_worker_up",
    "1 while the worker runs and listens (or, full, has left the listening group: comet_worker_full), else 0",
    "gauge",
  );
  for (const w of workers) out += `comet_worker_up{worker="${w.n}"} ${w.up ? 1 : 0}\n`;
  out += family("comet_worker_restarts_total", "Workers restarted after they died, by worker", "counter");
  for (const w of workers) out += `comet_worker_restarts_total{worker="${w.n}"} ${w.restarts}\n`;
  out += family(
    "comet_worker_full",
    "1 while the worker is at limits.max_connections (it takes no new connection until it is down to 90%)",
    "gauge",
  );
  for (const w of workers) out += `comet_worker_full{worker="${w.n}"} ${w.up && w.full ? 1 : 0}\n`;
  out += family("comet_worker_connections", "Open connections, by worker (absent: no answer)", "gauge");
  for (const [i, text] of texts.entries()) {
    const m = text === null ? null : /^comet_connections (\S+)$/m.exec(text);
    if (m) out += `comet_worker_connections{worker="${i + 1}"} ${m[1]}\n`;
  }
  return out;
}
