/**
 * A warning that anyone who can publish to the broker can trigger must not flood the log: at most
 * one line per interval, carrying how many more were suppressed since the last line.
 */
import type { Fields, Logger } from "../log.ts";

export class RateLimitedWarn {
  private last = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly msg: string,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  warn(fields: Fields): void {
    const t = this.now();
    if (t - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    this.last = t;
    const n = this.suppressed;
    this.suppressed = 0;
    this.log.warn(this.msg, n > 0 ? { ...fields, suppressed: n } : fields);
  }
}
