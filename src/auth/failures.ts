/**
 * Failed admin authentications per client address: past the limit in one second, the address is
 * answered "too many" instead of "unauthorized". Only failures are counted and only failures are
 * refused, so a caller with the right token is never locked out by someone else guessing from
 * the same address (a shared NAT, the same proxy). Guessing itself is made hopeless by the token
 * length (config/strength.ts); this keeps a guessing client visible, counted and cheaply answered.
 */

import { PerSecondCounts } from "../per-second.ts";

/** Failures one address may have in one second; past them it is answered 429. */
export const ADMIN_FAILURES_PER_SECOND = 20;
/**
 * More addresses than this failing within one second (an attacker with many addresses) and every
 * new one is treated as past its limit: that only turns a 401 into a 429, and keeps the table small.
 */
const MAX_TRACKED = 10_000;

export interface FailureCounters {
  unauthorized: { inc(): void };
  limited: { inc(): void };
}

export class FailureLimiter {
  private readonly windows = new PerSecondCounts(MAX_TRACKED);

  constructor(
    private readonly perSecond: number,
    private readonly counted: FailureCounters,
  ) {}

  /** Records one failure from `ip` at `now` (ms); true when the address is past its limit. */
  failed(ip: string, now: number): boolean {
    const over = this.windows.add(ip, now) > this.perSecond;
    (over ? this.counted.limited : this.counted.unauthorized).inc();
    return over;
  }

  /** How many addresses are held (tests). */
  get size(): number {
    return this.windows.size;
  }
}
