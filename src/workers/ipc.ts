/**
 * The private channel between the supervisor of `comet serve --workers N` and its workers: the
 * IPC pipe Bun.spawn opens, so no socket, port or password is needed and nothing else can speak
 * on it. Stop and reload go this way too, not by signal: a terminal's Ctrl-C or hang-up, and
 * systemd's stop, signal the whole process group, and a worker must not count those twice.
 */

/** What a worker is asked for itself, or asks the supervisor for the host. */
export type Question = "metrics" | "ready";

/** The variable that makes `comet serve` a worker, and says which one (1..N), or "spare". */
export const WORKER_ENV = "COMET_WORKER";

export type ToWorker =
  /** Answer for yourself: your metrics text, or why you are not ready (null: ready). */
  | { t: "ask"; id: number; q: Question }
  /**
   * The host's answer to the question `id` you asked, or why there is none; for "ready", also
   * the workers that are full.
   */
  | { t: "host"; id: number; answer: string | null; error?: string; full?: number[] }
  /** Drain and exit (an operator's second signal is a SIGKILL from the supervisor). */
  | { t: "stop" }
  /** Read the config again (the supervisor got SIGHUP). */
  | { t: "reload" }
  /**
   * To a worker made and waiting (at the host's start, or a spare): listen as worker n, on `at`'s
   * ports rather than the config's (port 0 shared: the ones worker 1 bound).
   */
  | { t: "become"; n: number; at?: { port: number; grpcPort?: number } }
  /** You are full and another worker listens: stop listening (keep your connections). */
  | { t: "leave" }
  /** You are full but no other worker listens: listen again, and refuse past the limit (4503). */
  | { t: "rejoin" };

export type ToSupervisor =
  /** Made (config read, bridge started), ready to become a worker and listen. */
  | { t: "loaded" }
  /** Listening; `listen` (and `grpc`, when served) the bound HOST:PORT. */
  | { t: "up"; listen: string; grpc?: string }
  | { t: "answer"; id: number; answer: string | null }
  /** Asks for the host's answer: every worker's metrics summed, or why the host is not ready. */
  | { t: "host"; id: number; q: Question }
  /** At limits.max_connections (src/gateway/capacity.ts). */
  | { t: "full" }
  /** Down to the lower mark again: listening, if it had left. */
  | { t: "room" };

/** Whether a message read off the pipe has the shape of one of these (the pipe is ours, but a bug is not). */
export function isMessage(m: unknown): m is { t: string; id?: number } {
  return typeof m === "object" && m !== null && typeof (m as { t?: unknown }).t === "string";
}
