/**
 * What an instance asks of each of its parts once the part has installed itself: whether it is
 * ready, to take a reload, to close. server.ts is a list of parts; each area says in its own
 * install function what it needs and what it gives.
 */
import type { Config } from "./config/schema.ts";

export interface Part {
  /** undefined when the part is ready to serve, else why not (/readyz names it). */
  ready?(): string | undefined;
  /** A reload (SIGHUP) applied: the config now in force, and the reloadable keys that changed in it. */
  reload?(config: Config, changed: readonly string[]): void;
  /** Stops the part. Parts close in the reverse order of their installing. */
  close(): void | Promise<void>;
}

/** An instance's parts, in the order they were installed. */
export class Parts {
  private readonly list: Part[] = [];

  add<P extends Part>(part: P): P {
    this.list.push(part);
    return part;
  }

  /** The first part that is not ready, in installing order; undefined when all are. */
  notReady(): string | undefined {
    for (const p of this.list) {
      const why = p.ready?.();
      if (why !== undefined) return why;
    }
    return undefined;
  }

  reload(config: Config, changed: readonly string[]): void {
    for (const p of this.list) p.reload?.(config, changed);
  }

  /** Closes every part, the last installed first; a part closes once. */
  async close(): Promise<void> {
    while (this.list.length > 0) await (this.list.pop() as Part).close();
  }
}
