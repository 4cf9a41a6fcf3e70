/**
 * How many connections this process takes: limits.max_connections, or where it is 0, what its
 * open-file limit leaves once its own files are set aside (every connection is a file, and a
 * process past that limit cannot even accept a connection to refuse it: the client would hang).
 * Past the limit a connection is refused 4503. A worker of `--workers` also hears when it becomes
 * full and when it has room again (below a lower mark, so that it does not flap at the limit):
 * src/workers/capacity.ts then takes it out of the listening group and back.
 */
import { openFileLimit } from "../util/open-files.ts";

/**
 * Files a process keeps for itself: the runtime's own, its listeners, the broker link, HTTP
 * requests in flight, and the sockets it is refusing (a refusal needs the connection accepted).
 */
export const ownFiles = (limit: number): number => 64 + Math.ceil(limit * 0.02);

/** A full worker takes connections again once it holds this share of its limit or fewer. */
export const LOW_MARK = 0.9;

/** limits.max_connections as it applies: 0 is derived from the open-file limit (still 0, no limit, without one). */
export function effectiveMax(configured: number, files: number | undefined): number {
  if (configured > 0) return configured;
  return files === undefined ? 0 : Math.max(1, files - ownFiles(files));
}

export interface CapacityWatcher {
  /** The process holds `max` connections. */
  full(): void;
  /** A full process came down to the lower mark. */
  room(): void;
}

export class Capacity {
  readonly low: number;
  /** Reached max and not down to low since. */
  full = false;
  watcher: CapacityWatcher | undefined;

  /** `max`: as effectiveMax() gives it (0: no limit). */
  constructor(readonly max: number) {
    this.low = Math.floor(max * LOW_MARK);
  }

  /** limits.max_connections of this process (its open-file limit read only where it is 0). */
  static of(configured: number): Capacity {
    return new Capacity(effectiveMax(configured, configured > 0 ? undefined : openFileLimit()));
  }

  /** Whether one more fits beside `open` connections. */
  fits(open: number): boolean {
    return this.max === 0 || open < this.max;
  }

  /** `open` connections, one having just opened. */
  opened(open: number): void {
    if (this.full || this.max === 0 || open < this.max) return;
    this.full = true;
    this.watcher?.full();
  }

  /** `open` connections, one having just closed. */
  closed(open: number): void {
    if (!this.full || open > this.low) return;
    this.full = false;
    this.watcher?.room();
  }
}
