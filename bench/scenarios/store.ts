/**
 * history-store: the same unicast (single HTTP Publish), Batch and room fanout as their own
 * scenarios, run with history.store: memory and then with history.store: redis (a redis-server of
 * this run, pinned with the generators to CPU 1: a Redis of its own host would cost Comet's CPU
 * nothing either), saturated; then what Redis holds per kept message after them.
 */
import { createClient } from "@redis/client";
import type { Ctx, Result } from "../lib/harness.ts";
import type { Profile } from "../lib/options.ts";
import { freePort, GEN_CPU, spawnPinned, stopProcess } from "../lib/procs.ts";
import { batchScenario } from "./batch.ts";
import { fanoutScenario } from "./fanout.ts";
import { unicastScenario } from "./unicast.ts";

async function startRedis(ctx: Ctx): Promise<{ url: string; stop(): Promise<void> }> {
  const port = freePort();
  const which = Bun.which("redis-server", { PATH: `${process.env.PATH ?? ""}:/usr/bin:/usr/local/bin` });
  if (!which) throw new Error("history-store: needs redis-server (apt-get install redis-server)");
  const args = ["--port", String(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"];
  const proc = spawnPinned(GEN_CPU, [which, ...args], ctx.maxSeconds * 4, { stdout: "ignore" });
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const c = createClient({ url, socket: { reconnectStrategy: false } });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.close();
      break;
    } catch (e) {
      if (Date.now() > deadline) throw new Error(`redis-server did not start: ${(e as Error).message}`);
      await Bun.sleep(50);
    }
  }
  return { url, stop: () => stopProcess(proc) };
}

/** What the log holds in Redis now: streams, kept messages, and the bytes Redis uses beyond `base`. */
async function redisHolds(url: string, base: number) {
  const c = createClient({ url });
  await c.connect();
  let streams = 0;
  let kept = 0;
  for await (const keys of c.scanIterator({ MATCH: "comet:pos:*", COUNT: 1000 })) streams += keys.length;
  for await (const keys of c.scanIterator({ MATCH: "comet:log:*", COUNT: 1000 })) {
    for (const k of keys) kept += await c.lLen(k);
  }
  const used = Number(/used_memory:(\d+)/.exec(await c.info("memory"))?.[1]) - base;
  await c.close();
  return { streams, kept, used };
}

async function usedMemory(url: string): Promise<number> {
  const c = createClient({ url });
  await c.connect();
  await c.flushAll();
  const used = Number(/used_memory:(\d+)/.exec(await c.info("memory"))?.[1]);
  await c.close();
  return used;
}

export async function storeScenario(ctx: Ctx, p: Profile): Promise<Result[]> {
  const redis = await startRedis(ctx);
  try {
    const out: Result[] = [];
    let base = 0;
    for (const store of ["memory", "redis"] as const) {
      const yaml = store === "redis" ? `history: {store: redis, redis: {urls: ["${redis.url}"]}}` : "";
      const c: Ctx = { ...ctx, extraYaml: yaml };
      if (store === "redis") base = await usedMemory(redis.url);
      const [unicast] = await unicastScenario(c, "comet", p.unicast);
      const [batch] = await batchScenario(c, "comet", p.batch);
      const [fanout] = await fanoutScenario(c, "comet", { ...p.fanout, lightBroadcasts: 0 });
      for (const r of [unicast, batch, fanout]) {
        if (r) out.push({ ...r, scenario: `store-${r.scenario}`, target: store });
      }
    }
    const held = await redisHolds(redis.url, base);
    out.push({
      scenario: "store-redis-memory",
      target: "redis",
      params: { size: 32 },
      metrics: {
        streams: held.streams,
        kept_messages: held.kept,
        used_bytes: held.used,
        bytes_per_kept_message: held.kept > 0 ? Math.round(held.used / held.kept) : null,
      },
    });
    return out;
  } finally {
    await redis.stop();
  }
}
