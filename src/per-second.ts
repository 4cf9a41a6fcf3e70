/**
 * Counts per key (a client address) in one-second windows: the connect rate of admission and the
 * failed admin logins share it. A key's window starts at its first count and ends a second later;
 * ended windows are swept at most once a second, so the table holds about the last second's keys.
 */
export class PerSecondCounts {
  private readonly windows = new Map<string, { start: number; count: number }>();
  private sweptAt = 0;

  /** `maxKeys`: past this many keys in one second, a new key is not held (add answers Infinity). */
  constructor(private readonly maxKeys = Number.POSITIVE_INFINITY) {}

  /** Counts one for key at now (ms); returns its count in the current window. */
  add(key: string, now: number): number {
    if (now - this.sweptAt >= 1000) this.sweep(now);
    const w = this.windows.get(key);
    if (w && now - w.start < 1000) return ++w.count;
    if (!w && this.windows.size >= this.maxKeys) return Number.POSITIVE_INFINITY;
    this.windows.set(key, { start: now, count: 1 });
    return 1;
  }

  /** Forgets windows that ended (also called by a periodic sweep, so an idle table empties). */
  sweep(now: number): void {
    this.sweptAt = now;
    for (const [key, w] of this.windows) if (now - w.start >= 1000) this.windows.delete(key);
  }

  get size(): number {
    return this.windows.size;
  }
}
