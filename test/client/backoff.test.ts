import { expect, test } from "bun:test";
import { backoffDelay } from "../../src/protocol/backoff.ts";

const o = { base: 100, max: 5000 };

test("full jitter: every delay is within [0, min(max, base * 2^attempt)]", () => {
  for (let attempt = 0; attempt < 60; attempt++) {
    const cap = Math.min(o.max, o.base * 2 ** attempt);
    expect(backoffDelay(attempt, o, () => 0)).toBe(0);
    const top = backoffDelay(attempt, o, () => 0.999999);
    expect(top).toBeLessThanOrEqual(cap);
    expect(top).toBeGreaterThanOrEqual(Math.floor(cap * 0.99));
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(attempt, o);
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(cap);
    }
  }
});

test("the cap doubles per attempt until it reaches max, and stays finite for huge attempts", () => {
  const tops = [0, 1, 2, 3, 6, 7, 2000].map((a) => backoffDelay(a, o, () => 0.5));
  expect(tops).toEqual([50, 100, 200, 400, 2500, 2500, 2500]);
});
