/** Token bucket for the uplink rate: `rate` frames per second, burst 2x. Two numbers per connection. */
export class RateBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate * 2;
    this.last = now;
  }

  /** Takes one token; false when the bucket is empty. A rate of 0 means no limit. */
  take(now: number): boolean {
    if (this.rate === 0) return true;
    const burst = this.rate * 2;
    this.tokens = Math.min(burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
