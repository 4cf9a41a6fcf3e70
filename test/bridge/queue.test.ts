import { expect, test } from "bun:test";
import { reconnectDelay as backoffMs } from "../../src/bridge/wire/link.ts";
import { BoundedQueue } from "../../src/util/bounded-queue.ts";
import { RateLimitedWarn } from "../../src/util/ratelog.ts";
import { createLogger } from "../../src/log.ts";

const drain = <T>(q: BoundedQueue<T>): T[] => {
  const out: T[] = [];
  for (let x = q.shift(); x !== undefined; x = q.shift()) out.push(x);
  return out;
};

test("the queue keeps order and, when full, drops the oldest", () => {
  const q = new BoundedQueue<number>(3);
  const dropped = [1, 2, 3, 4, 5].map((n) => q.push(n));
  expect(dropped).toEqual([0, 0, 0, 1, 1]);
  expect(q.size).toBe(3);
  expect(drain(q)).toEqual([3, 4, 5]);
  q.push(6);
  expect(drain(q)).toEqual([6]);
});

test("a queue of capacity 0 holds nothing", () => {
  const q = new BoundedQueue<string>(0);
  expect(q.push("a")).toBe(1);
  expect(q.size).toBe(0);
  expect(q.shift()).toBeUndefined();
});

test("clear empties the queue and says how many it held", () => {
  const q = new BoundedQueue<number>(4);
  for (const n of [1, 2, 3, 4, 5, 6]) q.push(n);
  expect(q.clear()).toBe(4);
  expect(q.size).toBe(0);
  q.push(7);
  expect(drain(q)).toEqual([7]);
});

test("reconnect backoff grows from 100 ms to a 5 s ceiling, jittered into its upper half", () => {
  expect([0, 1, 2, 3, 10, 100].map((n) => backoffMs(n, () => 1))).toEqual([100, 200, 400, 800, 5000, 5000]);
  expect([0, 6].map((n) => backoffMs(n, () => 0))).toEqual([50, 2500]);
});

test("a flood of warnings is one line per interval, with the count of the ones suppressed", () => {
  const lines: string[] = [];
  let now = 0;
  const w = new RateLimitedWarn(
    createLogger("info", "json", (l) => lines.push(l)),
    "dropped",
    1000,
    () => now,
  );
  for (now = 0; now < 2500; now += 100) w.warn({ reason: `r${now}` });
  const got = lines.map((l) => JSON.parse(l)).map((o) => [o.reason, o.suppressed]);
  expect(got).toEqual([
    ["r0", undefined],
    ["r1000", 9],
    ["r2000", 9],
  ]);
});
