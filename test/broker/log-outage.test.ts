/**
 * The shared log's Redis away (history.store: redis), on two instances: /readyz names it, the API
 * answers 503 and delivers nothing, broker Events for it are dropped and counted, sessions stay;
 * it comes back without a restart, with the same epochs when it kept the streams, with new ones
 * (and recovery false) when it came back empty.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { api } from "../helpers.ts";
import { type Comet, metric, waitFor, waitReadyz } from "../bridge/util.ts";
import { type LogCluster, login, positioned, reports, startLogCluster } from "./log-cluster.ts";

let cluster: LogCluster;
let a: Comet;
let b: Comet;

beforeAll(async () => {
  cluster = await startLogCluster();
  [a, b] = cluster.instances as [Comet, Comet];
});

afterAll(() => cluster?.stop());

test("Redis down, then back with its data, then back empty", { timeout: 20_000 }, async () => {
  const redis = cluster.redis[0] as (typeof cluster.redis)[number];
  const x = await login(a, "x", { rid: "room" });
  const y = await login(b, "y", { rid: "room" });
  await Bun.sleep(50);
  expect((await api(a, "Broadcast", { rid: "room", evt: "before" })).status).toBe(200);
  await y.until(() => positioned(y).length === 1, 3000, "before");
  const epoch = (positioned(y)[0] as { epoch: string }).epoch;

  // Hung: nothing answers. Publishing fails within the command timeout, with nothing delivered.
  redis.pause();
  const hung = await api(b, "Broadcast", { rid: "room", evt: "lost" });
  expect(hung.status).toBe(503);
  expect(hung.json).toMatchObject({ code: 503, detail: "history store unavailable" });
  const body = await waitReadyz(a, 503);
  expect(body.reason).toContain("history store shard redis://127.0.0.1:");
  const batch = await api(a, "Batch", { commands: [{ broadcast: { rid: "room", evt: "lost too" } }] });
  expect(batch.status).toBe(503);
  const droppedBefore = await metric(a, "comet_events_dropped_total", { reason: "history_store" });
  await sendEvent(cluster.broker.url, "comet/events", { rid: "room", evt: "event lost" });
  await waitFor(
    async () => (await metric(a, "comet_events_dropped_total", { reason: "history_store" })) > droppedBefore,
    "the Event dropped and counted",
  );
  expect(await metric(a, "comet_history_store_errors_total")).toBeGreaterThan(0);

  // Back with its data: the stream goes on under its epoch, and the sessions never left.
  redis.resume();
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  expect((await api(b, "Broadcast", { rid: "room", evt: "after" })).status).toBe(200);
  await x.until(() => positioned(x).some((p) => p.evt === "after"), 3000, "after");
  expect(positioned(x).map((p) => `${p.evt}@${p.seq}:${p.epoch === epoch}`)).toEqual(["before@1:true", "after@2:true"]);
  expect(x.closeInfo).toBeUndefined();
  expect(y.closeInfo).toBeUndefined();

  // Back empty (a restart without persistence): new epochs; an old position recovers nothing.
  await redis.restart();
  await waitFor(async () => (await api(a, "Broadcast", { rid: "room", evt: "anew" })).status === 200, "a publish", 8000);
  await y.until(() => positioned(y).some((p) => p.evt === "anew"), 3000, "anew");
  const anew = positioned(y).find((p) => p.evt === "anew") as { epoch: string; seq: number };
  expect(anew.epoch).not.toBe(epoch);
  expect(anew.seq).toBe(1);
  const z = await login(b, "z", { rid: "room", recover: { r: { epoch, seq: 2 } } });
  expect(reports(z)).toEqual([{ r: false }]);
  for (const c of [x, y, z]) c.close();
});
