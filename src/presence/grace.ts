/**
 * The deadlines of the uids in their grace (presence.offline_grace), with one timer for all of
 * them: the grace is one constant, so insertion order is deadline order, and the timer only ever
 * waits for the first.
 */
export class GraceDeadlines {
  /** uid → deadline (ms), in deadline order. */
  private readonly pending = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private timerAt = 0;

  constructor(
    private readonly graceMs: number,
    /** A uid whose grace has run out (it may have come back since: the caller checks). */
    private readonly due: (uid: string) => void,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** The uid's grace starts now (again, if it was in one). */
  start(uid: string): void {
    this.pending.delete(uid);
    this.pending.set(uid, Date.now() + this.graceMs);
    this.arm();
  }

  cancel(uid: string): void {
    this.pending.delete(uid);
  }

  /** No more calls to due. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.pending.clear();
  }

  private arm(): void {
    const first = this.pending.values().next();
    if (first.done) return;
    const at = first.value;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    // At least one turn of the event loop, even with no grace: a replacement on this instance
    // emits OFFLINE then ONLINE in one go, and must come out as no transition.
    this.timer = setTimeout(() => this.expire(), Math.max(0, at - Date.now()));
    this.timer.unref?.();
  }

  private expire(): void {
    this.timer = undefined;
    const now = Date.now();
    for (const [uid, at] of this.pending) {
      if (at > now) break;
      this.pending.delete(uid);
      this.due(uid);
    }
    this.arm();
  }
}
