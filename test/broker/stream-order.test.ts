/**
 * A stream's messages put back in seq order on one instance (src/shared-log/stream-order.ts), against a
 * real redis-server: the seed from the log's top, holes filled from the log, jumps after fill_wait,
 * a new epoch, and a recovery's settle.
 */
import { afterEach, expect, test } from "bun:test";
import { RedisLog } from "../../src/shared-log/redis-log.ts";
import { StreamOrder } from "../../src/shared-log/stream-order.ts";
import { silentLogger } from "../../src/log.ts";
import type { Delivery } from "../../src/protocol/commands.ts";
import { TestRedis } from "./redis-server.ts";

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

const FILL_WAIT = 80;

async function setup(size = 32) {
  const redis = await TestRedis.start();
  cleanup.push(() => redis.stop());
  const log = new RedisLog({ urls: [redis.url], prefix: "t", size, ttlMs: 60_000, log: silentLogger });
  cleanup.push(() => log.close());
  expect(await log.ready(5000)).toBe(true);
  const got: string[] = [];
  const counts = { filled: 0, jumped: 0, late: 0 };
  const order = new StreamOrder({
    deliver: (d, seq) => got.push(`${d.evt}@${seq}`),
    log,
    fillWaitMs: FILL_WAIT,
    counted: {
      filled: (n) => {
        counts.filled += n;
      },
      jumped: (n) => {
        counts.jumped += n;
      },
      late: () => {
        counts.late++;
      },
    },
  });
  return { redis, log, order, got, counts };
}

const room = (evt: string): Delivery => ({ kind: "broadcast", rid: "a", evt });

/** Lets the seed's round trip to Redis finish. */
const settled = () => Bun.sleep(30);

test("out of order in, in order out; a duplicate or a late one is dropped", async () => {
  const { log, order, got, counts } = await setup();
  order.hold("r:a");
  await settled();
  const p = [await log.append("r:a", "m1"), await log.append("r:a", "m2"), await log.append("r:a", "m3")];
  const epoch = p[0]?.epoch as string;
  order.receive("r:a", epoch, 2, room("m2"));
  order.receive("r:a", epoch, 3, room("m3"));
  expect(got).toEqual([]);
  order.receive("r:a", epoch, 1, room("m1"));
  order.receive("r:a", epoch, 2, room("m2"));
  expect(got).toEqual(["m1@1", "m2@2", "m3@3"]);
  expect(counts).toEqual({ filled: 0, jumped: 0, late: 1 });
});

test("a hole the broker does not fill is read from the log within fill_wait", async () => {
  const { log, order, got, counts } = await setup();
  order.hold("r:a");
  await settled();
  const epoch = (await log.append("r:a", "m1")).epoch;
  await log.append("r:a", "m2");
  await log.append("r:a", "m3");
  const started = performance.now();
  order.receive("r:a", epoch, 1, room("m1"));
  order.receive("r:a", epoch, 3, room("m3"));
  expect(got).toEqual(["m1@1"]);
  while (got.length < 3 && performance.now() - started < 2000) await Bun.sleep(5);
  expect(got).toEqual(["m1@1", "m2@2", "m3@3"]);
  expect(performance.now() - started).toBeLessThan(FILL_WAIT + 30);
  expect(counts.filled).toBe(1);
});

test("a hole the log no longer has is jumped at fill_wait", async () => {
  const { log, order, got, counts } = await setup(1);
  order.hold("r:a");
  await settled();
  const epoch = (await log.append("r:a", "m1")).epoch;
  await log.append("r:a", "m2");
  await log.append("r:a", "m3");
  order.receive("r:a", epoch, 1, room("m1"));
  order.receive("r:a", epoch, 3, room("m3"));
  await Bun.sleep(FILL_WAIT + 40);
  expect(got).toEqual(["m1@1", "m3@3"]);
  expect(counts).toMatchObject({ filled: 0, jumped: 1 });
  // What the jump skipped is late when it comes after all.
  order.receive("r:a", epoch, 2, room("m2"));
  expect(got).toEqual(["m1@1", "m3@3"]);
});

test("the seed: a stream held mid-way starts after the log's top; what came during the seed is kept", async () => {
  const { log, order, got } = await setup();
  const epoch = (await log.append("r:a", "old1")).epoch;
  await log.append("r:a", "old2");
  order.hold("r:a");
  // Arrives while the top is being read: appended after the holder came.
  order.receive("r:a", epoch, 2, room("old2"));
  await settled();
  expect(got).toEqual(["old2@2"]);
  order.receive("r:a", epoch, 1, room("old1"));
  await log.append("r:a", "m3");
  order.receive("r:a", epoch, 3, room("m3"));
  expect(got).toEqual(["old2@2", "m3@3"]);
  // A stream nobody holds here passes straight through.
  order.receive("r:b", "e", 9, { kind: "broadcast", rid: "b", evt: "x" });
  expect(got).toEqual(["old2@2", "m3@3", "x@9"]);
});

test("the log lost the stream: the new epoch numbers from 1; the old one's stragglers are dropped", async () => {
  const { redis, log, order, got } = await setup();
  order.hold("w");
  await settled();
  const old = (await log.append("w", "a1")).epoch;
  order.receive("w", old, 1, room("a1"));
  await (await redis.client()).flushAll();
  const p2 = await log.append("w", "b2");
  const p1 = { epoch: p2.epoch, seq: 1 };
  expect(p2.seq).toBe(1);
  const p3 = await log.append("w", "b3");
  order.receive("w", p3.epoch, p3.seq, room("b3"));
  order.receive("w", old, 2, room("a2"));
  order.receive("w", p1.epoch, 1, room("b2"));
  expect(got).toEqual(["a1@1", "b2@1", "b3@2"]);
});

test("settle: resolves once the order delivered up to a position, filling from the log what it knows is there", async () => {
  const { log, order, got } = await setup();
  order.hold("u:x");
  await settled();
  const d = (evt: string): Delivery => ({ kind: "publish", uid: "x", evt });
  const p1 = await log.append("u:x", "m1");
  await log.append("u:x", "m2");
  order.receive("u:x", p1.epoch, 1, d("m1"));
  const started = performance.now();
  await order.settle("u:x", { epoch: p1.epoch, seq: 2 });
  expect(got).toEqual(["m1@1", "m2@2"]);
  expect(performance.now() - started).toBeLessThan(FILL_WAIT + 30);
  // Already there, another epoch, a stream not held: at once.
  await order.settle("u:x", { epoch: p1.epoch, seq: 1 });
  await order.settle("u:x", { epoch: "other", seq: 9 });
  await order.settle("u:y", { epoch: p1.epoch, seq: 9 });
  order.release("u:x");
  expect(order.size).toBe(0);
});
