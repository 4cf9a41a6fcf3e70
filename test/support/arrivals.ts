/** What the test clients wait on: a condition over what they received, re-checked at each arrival. */
export class Arrivals {
  private waiters: Array<() => void> = [];

  /** Something arrived: every waiter checks its condition again. */
  wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /**
   * Resolves once pred holds, checked now and at each arrival; fails after ms with
   * "timed out waiting for <what>; <seen()>" (what had been received, for the failure's reader).
   */
  async until(pred: () => boolean, ms: number, what: string, seen: () => string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; ${seen()}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}
