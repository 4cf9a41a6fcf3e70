/**
 * The shared log (issue 29) against real redis-server processes: numbering from the log across
 * instances, all-or-nothing recovery, sharding, and what a dead, hung or emptied Redis does.
 */
import { afterEach, expect, test } from "bun:test";
import { HistoryUnavailable, type Position } from "../../src/broker/history-log.ts";
import { RedisLog, type RedisLogOptions } from "../../src/shared-log/redis-log.ts";
import { silentLogger } from "../../src/log.ts";
import { DENO } from "../support/runtime.ts";
import { TestRedis } from "./redis-server.ts";

const servers: TestRedis[] = [];
const logs: RedisLog[] = [];

afterEach(async () => {
  await Promise.all(logs.splice(0).map((l) => l.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(opts: { password?: string } = {}): Promise<TestRedis> {
  const s = await TestRedis.start(opts);
  servers.push(s);
  return s;
}

/** A RedisLog, as one instance of Comet would have it, connected before it is handed out. */
async function open(urls: string[], opts: Partial<RedisLogOptions> = {}): Promise<RedisLog> {
  const l = new RedisLog({ urls, prefix: "comet", size: 32, ttlMs: 60_000, log: silentLogger, ...opts });
  logs.push(l);
  expect(await l.ready(5000)).toBe(true);
  return l;
}

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/** The error a promise rejects with, and how long it took. */
async function failure(p: Promise<unknown>): Promise<{ err: unknown; ms: number }> {
  const started = performance.now();
  try {
    await p;
  } catch (err) {
    return { err, ms: performance.now() - started };
  }
  throw new Error("expected a rejection");
}

test("appends are numbered 1..n under one epoch, the same seen from two instances on one server", async () => {
  const r = await server();
  const a = await open([r.url]);
  const b = await open([r.url]);
  const got: Position[] = [];
  for (let i = 0; i < 5; i++) got.push(await (i % 2 === 0 ? a : b).append("r:lobby", `m${i}`));
  const epoch = got[0]!.epoch;
  expect(epoch).toMatch(/^[0-9a-z]{10,}$/);
  expect(got).toEqual([1, 2, 3, 4, 5].map((seq) => ({ epoch, seq })));
  expect(await a.top("r:lobby")).toEqual({ epoch, seq: 5 });
  expect(await b.since("r:lobby", { epoch, seq: 2 })).toEqual([
    { seq: 3, evt: "m2" },
    { seq: 4, evt: "m3" },
    { seq: 5, evt: "m4" },
  ]);
  // Streams number apart: another stream starts at 1, under an epoch of its own.
  const other = await b.append("u:alice", "x");
  expect(other.seq).toBe(1);
});

test("concurrent appends from two instances to one stream get distinct, consecutive seqs", async () => {
  const r = await server();
  const a = await open([r.url], { size: 500 });
  const b = await open([r.url], { size: 500 });
  const sent = Array.from({ length: 400 }, (_, i) => `${i % 2 === 0 ? "a" : "b"}${i}`);
  const got = await Promise.all(sent.map((evt, i) => (i % 2 === 0 ? a : b).append("w", evt)));
  expect(new Set(got.map((p) => p.epoch)).size).toBe(1);
  expect(got.map((p) => p.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  // The log holds each message under the seq its append was answered with.
  const kept = await a.since("w", { epoch: got[0]!.epoch, seq: 0 });
  const bySeq = new Map(got.map((p, i) => [p.seq, sent[i]]));
  expect(kept?.map((e) => e.seq)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  for (const e of kept ?? []) expect(e.evt).toBe(bySeq.get(e.seq) as string);
});

test("since() is all or nothing: top, ahead, another epoch, trimmed by size", async () => {
  const r = await server();
  const l = await open([r.url], { size: 5 });
  for (let i = 1; i <= 8; i++) await l.append("u:bob", `m${i}`);
  const { epoch } = await l.top("u:bob");
  const evts = (from: number) =>
    Array.from({ length: 8 - from }, (_, i) => ({ seq: from + 1 + i, evt: `m${from + 1 + i}` }));
  expect(await l.since("u:bob", { epoch, seq: 8 })).toEqual([]);
  expect(await l.since("u:bob", { epoch, seq: 3 })).toEqual(evts(3));
  expect(await l.since("u:bob", { epoch, seq: 6 })).toEqual(evts(6));
  // Seq 3 was trimmed (5 kept: 4..8): from 2 would need it.
  expect(await l.since("u:bob", { epoch, seq: 2 })).toBeNull();
  expect(await l.since("u:bob", { epoch, seq: 0 })).toBeNull();
  expect(await l.since("u:bob", { epoch, seq: 9 })).toBeNull();
  expect(await l.since("u:bob", { epoch, seq: 2 ** 53 + 2 })).toBeNull();
  expect(await l.since("u:bob", { epoch: `${epoch}x`, seq: 8 })).toBeNull();
  expect(await l.since("u:bob", { epoch: "", seq: 0 })).toBeNull();
  // A stream the store never had: nothing to recover, and asking does not make it.
  expect(await l.since("u:nobody", { epoch: "", seq: 0 })).toBeNull();
  expect(await (await r.client()).exists("comet:pos:u:nobody")).toBe(0);
});

test("range() fills a hole when all of it is kept", async () => {
  const r = await server();
  const l = await open([r.url], { size: 5 });
  for (let i = 1; i <= 8; i++) await l.append("r:x", `m${i}`);
  const { epoch } = await l.top("r:x");
  expect(await l.range("r:x", 4, 6, epoch)).toEqual([
    { seq: 5, evt: "m5" },
    { seq: 6, evt: "m6" },
  ]);
  expect(await l.range("r:x", 7, 8, epoch)).toEqual([{ seq: 8, evt: "m8" }]);
  expect(await l.range("r:x", 6, 6, epoch)).toEqual([]);
  expect(await l.range("r:x", 2, 5, epoch)).toBeNull(); // seq 3 trimmed
  expect(await l.range("r:x", 6, 9, epoch)).toBeNull(); // past the top
  expect(await l.range("r:x", 6, 5, epoch)).toBeNull();
  expect(await l.range("r:x", 4, 6, "other")).toBeNull();
});

test("a message older than ttl is never replayed, and an idle stream dies with a new epoch after", async () => {
  const r = await server();
  const ttlMs = 1000;
  const l = await open([r.url], { ttlMs });
  const first = await l.append("r:t", "old1");
  await l.append("r:t", "old2");
  await Bun.sleep(700);
  await l.append("r:t", "young");
  await Bun.sleep(400); // old1 and old2 are 1,100 ms old, young 400 ms
  const epoch = first.epoch;
  expect(await l.since("r:t", { epoch, seq: 0 })).toBeNull();
  expect(await l.since("r:t", { epoch, seq: 1 })).toBeNull();
  expect(await l.since("r:t", { epoch, seq: 2 })).toEqual([{ seq: 3, evt: "young" }]);
  // The next append drops what is older than ttl from Redis too, not only from the answers.
  await l.append("r:t", "later");
  const redis = await r.client();
  expect(await redis.lLen("comet:log:r:t")).toBe(2);
  await Bun.sleep(ttlMs);
  expect(await l.since("r:t", { epoch, seq: 3 })).toBeNull();
  // Nothing appended for ttl: Redis dropped both keys; the stream starts again, under another epoch.
  await waitFor(async () => (await redis.exists(["comet:pos:r:t", "comet:log:r:t"])) === 0, "the keys to expire");
  const again = await l.append("r:t", "new");
  expect(again.seq).toBe(1);
  expect(again.epoch).not.toBe(epoch);
  expect(await l.since("r:t", { epoch, seq: 4 })).toBeNull();
});

test("size 0 numbers messages and keeps none", async () => {
  const r = await server();
  const l = await open([r.url], { size: 0 });
  await l.append("w", "a");
  const p = await l.append("w", "b");
  expect(p.seq).toBe(2);
  expect(await l.since("w", p)).toEqual([]);
  expect(await l.since("w", { epoch: p.epoch, seq: 1 })).toBeNull();
  expect(await (await r.client()).exists("comet:log:w")).toBe(0);
});

test("top() makes the epoch that the first append then continues", async () => {
  const r = await server();
  const a = await open([r.url]);
  const b = await open([r.url]);
  const [ta, tb] = await Promise.all([a.top("u:carol"), b.top("u:carol")]);
  expect(ta).toEqual(tb);
  expect(ta.seq).toBe(0);
  expect(await b.append("u:carol", "hi")).toEqual({ epoch: ta.epoch, seq: 1 });
  expect(await a.since("u:carol", ta)).toEqual([{ seq: 1, evt: "hi" }]);
});

test("a new RedisLog (an instance restarted) sees the same epoch and seq", async () => {
  const r = await server();
  const before = await open([r.url]);
  await before.append("u:dave", "1");
  const last = await before.append("u:dave", "2");
  await before.close();
  const after = await open([r.url]);
  expect(await after.top("u:dave")).toEqual(last);
  expect(await after.since("u:dave", { epoch: last.epoch, seq: 1 })).toEqual([{ seq: 2, evt: "2" }]);
  expect(await after.append("u:dave", "3")).toEqual({ epoch: last.epoch, seq: 3 });
});

test("two shards: streams land on both, each stream's keys on exactly the one its name chooses", async () => {
  const shards = [await server(), await server()];
  const l = await open(shards.map((s) => s.url));
  const streams = Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? `u:user${i}` : `r:room${i}`));
  for (const s of streams) await l.append(s, "x");
  const keysOn = await Promise.all(shards.map(async (s) => new Set(await (await s.client()).keys("comet:*"))));
  const count = [0, 0];
  for (const s of streams) {
    const on = keysOn.map((keys) => keys.has(`comet:pos:${s}`) && keys.has(`comet:log:${s}`));
    expect(on.filter(Boolean).length).toBe(1);
    expect(on[l.shardIndex(s)]).toBe(true);
    count[l.shardIndex(s)]!++;
  }
  expect(count[0]).toBeGreaterThan(5);
  expect(count[1]).toBeGreaterThan(5);
  // Another instance with the same urls places every stream alike, and reads it back.
  const other = await open(shards.map((s) => s.url));
  for (const s of streams) expect((await other.top(s)).seq).toBe(1);
});

test("appendMany: in order, per shard in one call; a dead shard fails only its part, said in landed", async () => {
  const shards = [await server(), await server()];
  const l = await open(shards.map((s) => s.url));
  // Streams that land on each shard.
  const names = Array.from({ length: 20 }, (_, i) => `r:b${i}`);
  const on0 = names.filter((n) => l.shardIndex(n) === 0);
  const on1 = names.filter((n) => l.shardIndex(n) === 1);
  const items = [on0[0]!, on1[0]!, on0[0]!, on1[1]!, on0[0]!].map((stream, i) => ({ stream, evt: `e${i}` }));
  const got = await l.appendMany(items);
  expect(got.map((p) => p.seq)).toEqual([1, 1, 2, 1, 3]);
  expect((await l.since(on0[0]!, { epoch: got[0]!.epoch, seq: 0 }))?.map((e) => e.evt)).toEqual(["e0", "e2", "e4"]);
  expect(await l.appendMany([])).toEqual([]);

  await shards[1]!.kill();
  const { err } = await failure(l.appendMany(items));
  expect(err).toBeInstanceOf(HistoryUnavailable);
  const landed = (err as HistoryUnavailable).landed ?? [];
  expect(landed.map((p) => p?.seq)).toEqual([4, undefined, 5, undefined, 6]);
  expect((err as Error).message).toContain(`127.0.0.1:${shards[1]!.port}`);
});

test("Redis killed: appends reject with HistoryUnavailable at once and notReady() names it (password hidden)", async () => {
  const r = await server({ password: "s3cret-pw" });
  const l = await open([r.url]);
  await l.append("w", "before");
  expect(l.notReady()).toBeUndefined();
  await r.kill();
  for (const op of [() => l.append("w", "during"), () => l.top("w"), () => l.since("w", { epoch: "e", seq: 1 })]) {
    const { err, ms } = await failure(op());
    expect(err).toBeInstanceOf(HistoryUnavailable);
    expect((err as Error).message).toStartWith("history store unavailable: ");
    expect((err as Error).message).not.toContain("s3cret-pw");
    expect(ms).toBeLessThan(1000);
  }
  await waitFor(() => l.notReady() !== undefined, "notReady() to say so");
  const why = l.notReady() as string;
  expect(why).toContain(`redis://:***@127.0.0.1:${r.port}`);
  expect(why).not.toContain("s3cret-pw");
});

test("Redis back empty: the same RedisLog reconnects by itself, under a new epoch; an old position is not recoverable", async () => {
  const r = await server();
  const l = await open([r.url]);
  await l.append("u:erin", "1");
  const old = await l.append("u:erin", "2");
  await r.restart();
  await waitFor(() => l.notReady() === undefined, "the log to reconnect");
  const next = await l.append("u:erin", "3");
  expect(next.seq).toBe(1);
  expect(next.epoch).not.toBe(old.epoch);
  expect(await l.since("u:erin", { epoch: old.epoch, seq: 1 })).toBeNull();
  expect(await l.since("u:erin", { epoch: next.epoch, seq: 0 })).toEqual([{ seq: 1, evt: "3" }]);
});

test("Redis that hangs: a command fails after commandTimeoutMs, does not land late, and the log works again when it answers", async () => {
  const r = await server();
  const l = await open([r.url], { commandTimeoutMs: 300 });
  const first = await l.append("w", "1");
  r.pause();
  const { err, ms } = await failure(l.append("w", "2"));
  expect(err).toBeInstanceOf(HistoryUnavailable);
  expect((err as Error).message).toContain("no answer within 300 ms");
  expect(ms).toBeLessThan(1000);
  expect(l.notReady()).toContain("no answer within 300 ms");
  r.resume();
  // The append reached the server, which runs it when it wakes: after its deadline, so it did not
  // land (its caller was told it failed), and the next one takes its place.
  expect(await l.append("w", "3")).toEqual({ epoch: first.epoch, seq: 2 });
  expect((await l.since("w", first))?.map((e) => e.evt)).toEqual(["3"]);
  expect(l.notReady()).toBeUndefined();
});

test("close() does not wait for a server that hangs", async () => {
  const r = await server();
  const l = await open([r.url], { commandTimeoutMs: 300 });
  await l.append("w", "1");
  r.pause();
  const pending = l.append("w", "2").catch((err) => err);
  const started = performance.now();
  await l.close();
  expect(performance.now() - started).toBeLessThan(1000);
  expect(await pending).toBeInstanceOf(HistoryUnavailable);
  await expect(l.append("w", "3")).rejects.toThrow("history store unavailable");
});

test("a server that lost its scripts (SCRIPT FLUSH) gets them again", async () => {
  const r = await server();
  const l = await open([r.url]);
  await l.append("w", "1");
  await (await r.client()).scriptFlush();
  expect((await l.append("w", "2")).seq).toBe(2);
});

test("memory in Redis: bounded by size; bytes per kept message of ~100 bytes, and per stream", async () => {
  const r = await server();
  const l = await open([r.url], { size: 1000 });
  const evt = (i: number) => JSON.stringify({ type: "chat", id: i, text: "x".repeat(60) }).padEnd(100, " ");
  for (let i = 0; i < 1000; i += 100) {
    await l.appendMany(Array.from({ length: 100 }, (_, k) => ({ stream: "r:big", evt: evt(i + k) })));
  }
  const redis = await r.client();
  const log = (await redis.memoryUsage("comet:log:r:big", { SAMPLES: 0 })) as number;
  const pos = (await redis.memoryUsage("comet:pos:r:big", { SAMPLES: 0 })) as number;
  console.log(
    `redis: ${log} bytes for 1,000 kept messages of 100 bytes (${(log / 1000).toFixed(1)} a message), ${pos} for the stream's position`,
  );
  expect(log / 1000).toBeLessThan(200);
  // A stream of size 32 keeps 32 whatever was appended.
  const small = await open([r.url], { size: 32 });
  for (let i = 0; i < 100; i++) await small.append("r:small", evt(i));
  expect(await redis.lLen("comet:log:r:small")).toBe(32);
  // Most streams (a user's) keep a message or two: what one costs whole, keys included.
  const used = async () => Number(/used_memory:(\d+)/.exec(await redis.info("memory"))?.[1]);
  const before = await used();
  await small.appendMany(Array.from({ length: 1000 }, (_, i) => ({ stream: `u:one${i}`, evt: evt(i) })));
  const perStream = ((await used()) - before) / 1000;
  console.log(`redis: ${perStream.toFixed(0)} bytes for a stream that keeps one message of 100 bytes`);
  expect(perStream).toBeLessThan(1000);
});

test("the options are checked", () => {
  const base = { prefix: "comet", size: 32, ttlMs: 1000, log: silentLogger };
  expect(() => new RedisLog({ ...base, urls: [] })).toThrow("at least one URL");
  expect(() => new RedisLog({ ...base, urls: ["http://127.0.0.1:6379"] })).toThrow("expected redis:// or rediss://");
  expect(() => new RedisLog({ ...base, urls: ["redis://127.0.0.1:6379"], ttlMs: 0 })).toThrow("history.ttl");
  expect(() => new RedisLog({ ...base, urls: ["redis://127.0.0.1:6379"], size: -1 })).toThrow("history.size");
});

test("an instance on Deno shares a stream with one on Bun", async () => {
  const r = await server();
  const bun = await open([r.url]);
  const first = await bun.append("r:mixed", "bun 1");
  const probe = Bun.spawn(
    [DENO, "run", "-A", `${import.meta.dir}/deno-probe.ts`, JSON.stringify({ url: r.url, stream: "r:mixed" })],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [out, err, code] = await Promise.all([
    new Response(probe.stdout).text(),
    new Response(probe.stderr).text(),
    probe.exited,
  ]);
  expect({ code, err }).toEqual({ code: 0, err: "" });
  const seen = JSON.parse(out) as {
    runtime: string;
    ready: boolean;
    appended: Position[];
    since: unknown;
    top: Position;
  };
  expect(seen.runtime).toBe("deno");
  expect(seen.ready).toBe(true);
  expect(seen.appended).toEqual([
    { epoch: first.epoch, seq: 2 },
    { epoch: first.epoch, seq: 3 },
  ]);
  expect(seen.since).toEqual([
    { seq: 1, evt: "bun 1" },
    { seq: 2, evt: "deno 1" },
    { seq: 3, evt: "deno 2" },
  ]);
  expect(await bun.top("r:mixed")).toEqual(seen.top);
});

test("onCommand meters every round trip, failed ones too", async () => {
  const r = await server();
  const seen: Array<[number, boolean]> = [];
  const l = await open([r.url], { onCommand: (s, ok) => seen.push([s, ok]) });
  await l.append("w", "1");
  await l.appendMany([
    { stream: "w", evt: "2" },
    { stream: "w", evt: "3" },
  ]);
  expect(seen.length).toBe(2);
  expect(seen.every(([s, ok]) => ok && s > 0 && s < 5)).toBe(true);
  await r.kill();
  await failure(l.append("w", "4"));
  expect(seen.at(-1)?.[1]).toBe(false);
});

test("appendOnce: the same mark from two instances appends once, and both get its position", async () => {
  const r = await server();
  const a = await open([r.url]);
  const b = await open([r.url]);
  await a.append("r:ev", "before");
  const [x, y] = await Promise.all([a.appendOnce("r:ev", "e1", "d1", 5000), b.appendOnce("r:ev", "e1", "d1", 5000)]);
  expect([x.first, y.first].sort()).toEqual([false, true]);
  expect({ epoch: x.epoch, seq: x.seq }).toEqual({ epoch: y.epoch, seq: 2 });
  // Another mark is another Event; the window passed, the same mark appends again.
  expect((await b.appendOnce("r:ev", "e2", "d2", 50)).seq).toBe(3);
  await Bun.sleep(80);
  expect(await a.appendOnce("r:ev", "e2", "d2", 50)).toMatchObject({ seq: 4, first: true });
  expect((await a.since("r:ev", { epoch: x.epoch, seq: 1 }))?.map((e) => e.evt)).toEqual(["e1", "e2", "e2"]);
});

test("peek: the top without making the stream; null for a stream the store does not have", async () => {
  const r = await server();
  const a = await open([r.url]);
  expect(await a.peek("u:nobody")).toBeNull();
  expect(await (await r.client()).exists("comet:pos:u:nobody")).toBe(0);
  const p = await a.append("u:somebody", "x");
  expect(await a.peek("u:somebody")).toEqual(p);
});

test("appends made in one turn of the event loop share one script call per shard, numbered in call order", async () => {
  const r = await server();
  let calls = 0;
  const l = await open([r.url], { onCommand: () => calls++ });
  await l.append("r:warm", "w");
  calls = 0;
  const got = await Promise.all(Array.from({ length: 300 }, (_, i) => l.append(i % 2 ? "r:odd" : "r:even", `m${i}`)));
  // 300 appends on one shard: two calls of at most 256.
  expect(calls).toBe(2);
  expect(got.filter((_, i) => i % 2 === 0).map((p) => p.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
  expect(got.filter((_, i) => i % 2 === 1).map((p) => p.seq)).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
});
