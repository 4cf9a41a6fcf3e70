/**
 * Token bucket for the uplink rate: `rate` frames per second, burst 2x. Its state is two numbers
 * that live on the connection itself (an object of its own per connection costs ~50 bytes).
 */
export interface BucketState {
  tokens: number;
  tokensAt: number;
}

/** Takes one token; false when the bucket is empty. A rate of 0 means no limit. */
export function takeToken(b: BucketState, rate: number, now: number): boolean {
  if (rate === 0) return true;
  const burst = rate * 2;
  b.tokens = Math.min(burst, b.tokens + ((now - b.tokensAt) * rate) / 1000);
  b.tokensAt = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}
