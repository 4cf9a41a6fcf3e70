/**
 * Exponential backoff with jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"): the
 * cap doubles per attempt up to a maximum, and the delay is drawn below it, so a crowd that lost
 * the same server spreads its reconnects instead of arriving together. Pure, with no imports: the
 * browser SDK bundles it, and the MQTT bridge shares it.
 */
export interface BackoffOptions {
  /** Cap of the first retry's delay, in ms. */
  base: number;
  /** No delay is ever longer than this, in ms. */
  max: number;
  /**
   * "full" (the default): uniform in [0, cap], the widest spread.
   * "equal": uniform in [cap / 2, cap], for a peer that must not retry a refusing server at once.
   */
  jitter?: "full" | "equal";
}

/** The delay before retry number `attempt` (0 for the first retry after a loss). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  // 2 ** attempt overflows to Infinity for large attempts; Math.min keeps the cap finite.
  const cap = Math.min(o.max, o.base * 2 ** Math.max(0, attempt));
  const least = o.jitter === "equal" ? cap / 2 : 0;
  return Math.floor(least + random() * (cap - least));
}
