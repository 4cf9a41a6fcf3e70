/**
 * Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * the delay is uniform in [0, min(max, base * 2^attempt)], so a crowd of clients that lost the same
 * server spreads its reconnects instead of arriving together.
 */
export interface BackoffOptions {
  /** Cap of the first retry's delay, in ms. */
  base: number;
  /** No delay is ever longer than this, in ms. */
  max: number;
}

/** The delay before retry number `attempt` (0 for the first retry after a loss). */
export function backoffDelay(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  // 2 ** attempt overflows to Infinity for large attempts; Math.min keeps the cap finite.
  const cap = Math.min(o.max, o.base * 2 ** Math.max(0, attempt));
  return Math.floor(random() * cap);
}
