/**
 * A worker's side of "workers take only what they can hold". At limits.max_connections (as
 * src/gateway/capacity.ts derives it) the worker tells its supervisor, which answers "leave" while
 * another worker listens: the worker stops listening, so its ports leave the SO_REUSEPORT groups
 * and the kernel gives new connections to the others, and it keeps every connection it holds.
 * Down to the lower mark, it listens again. A full worker that no other listens beside is told to
 * keep listening ("rejoin"), and refuses past the limit (4503): a client is refused at once, never
 * left in the queue of a socket that nobody accepts from.
 */
import type { Capacity } from "../gateway/capacity.ts";
import type { Logger } from "../log.ts";

/** A worker's listening ports (server.ts RunningServer). */
export interface Ports {
  pause(): void;
  resume(): Promise<void>;
}

/** A port that cannot be listened on again (taken meanwhile) is tried again this often. */
const RETRY_MS = 1000;

export class WorkerCapacity {
  private want: "listen" | "leave" = "listen";
  private paused = false;
  /** The pauses and resumes in the order asked: a resume (gRPC's) takes a moment. */
  private chain: Promise<void> = Promise.resolve();
  private retry: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly capacity: Capacity,
    private readonly ports: Ports,
    tell: (t: "full" | "room") => void,
    private readonly log: Logger,
  ) {
    capacity.watcher = {
      full: () => {
        log.warn("worker full: at limits.max_connections", { max: capacity.max, low: capacity.low });
        tell("full");
      },
      room: () => {
        this.set("listen");
        tell("room");
      },
    };
    // Connections that came while the worker was starting to listen, before this watched.
    if (capacity.full) tell("full");
  }

  /** The supervisor's word. */
  on(say: "leave" | "rejoin"): void {
    // A "room" may have crossed a "leave" on the pipe: a worker no longer full stays.
    if (say === "leave" && !this.capacity.full) return;
    this.set(say === "leave" ? "leave" : "listen");
  }

  stop(): void {
    clearTimeout(this.retry);
    this.capacity.watcher = undefined;
  }

  private set(want: "listen" | "leave"): void {
    this.want = want;
    this.chain = this.chain.then(() => this.apply());
  }

  private async apply(): Promise<void> {
    const { max, low } = this.capacity;
    if (this.want === "leave" && !this.paused) {
      this.paused = true;
      this.ports.pause();
      this.log.warn("worker full: stopped accepting, the other workers take new connections", { max, low });
    } else if (this.want === "listen" && this.paused) {
      try {
        await this.ports.resume();
        this.paused = false;
        this.log.info("worker accepting again", { max, low, full: this.capacity.full || undefined });
      } catch (err) {
        this.log.error("worker cannot listen again: retrying", { error: String(err), retry_ms: RETRY_MS });
        clearTimeout(this.retry);
        this.retry = setTimeout(() => this.set(this.want), RETRY_MS);
      }
    }
  }
}
