/**
 * The shared log (history.store: redis) across two instances on a real Mosquitto and a real
 * redis-server: one order per stream on every instance, broker Events appended once, and recovery
 * on whichever instance a client reaches.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { api } from "../helpers.ts";
import { metric, waitFor } from "../bridge/util.ts";
import { expectOneOrder, type LogCluster, login, positioned, reports, startLogCluster } from "./log-cluster.ts";
import type { Comet } from "../bridge/util.ts";

let cluster: LogCluster;
let a: Comet;
let b: Comet;

beforeAll(async () => {
  cluster = await startLogCluster();
  [a, b] = cluster.instances as [Comet, Comet];
});

afterAll(() => cluster?.stop());

test("two publishers on two instances, one room: every member on both gets the same seqs, each message once", async () => {
  const members = [
    await login(a, "m1", { rid: "busy" }),
    await login(a, "m2", { rid: "busy" }),
    await login(b, "m3", { rid: "busy" }),
    await login(b, "m4", { rid: "busy" }),
  ];
  // The room's order is seeded on both instances before the publishers start.
  await Bun.sleep(50);
  const n = 60;
  const publish = (server: Comet, tag: string) =>
    Promise.all(
      Array.from({ length: n }, (_, i) => api(server, "Broadcast", { rid: "busy", evt: `${tag}${i}` })),
    );
  const [ra, rb] = await Promise.all([publish(a, "a"), publish(b, "b")]);
  expect([...ra, ...rb].every((r) => r.status === 200)).toBe(true);
  await Promise.all(members.map((c) => c.until(() => positioned(c).length >= 2 * n, 5000, `${2 * n} pushes`)));
  const order = expectOneOrder(members, "r:busy", 2 * n);
  // Each publisher's own messages keep their order within the one order.
  for (const tag of ["a", "b"]) {
    const mine = order.filter((p) => p.evt.startsWith(tag)).map((p) => Number(p.evt.slice(1)));
    expect(mine).toHaveLength(n);
  }
  for (const c of members) c.close();
});

test("a backend's Event reaches every instance once and is appended once: the same position everywhere", async () => {
  const x = await login(a, "ev1", { rid: "events-room" });
  const y = await login(b, "ev2", { rid: "events-room" });
  await Bun.sleep(50);
  for (let i = 0; i < 5; i++) await sendEvent(cluster.broker.url, "comet/events", { rid: "events-room", evt: `e${i}` });
  await Promise.all([x, y].map((c) => c.until(() => positioned(c).length >= 5, 5000, "5 pushes")));
  expectOneOrder([x, y], "r:events-room", 5);
  const redis = await (cluster.redis[0] as { client(): Promise<{ lLen(k: string): Promise<number> }> }).client();
  expect(await redis.lLen("comet:log:r:events-room")).toBe(5);
  x.close();
  y.close();
});

test("a reconnect to the other instance recovers what its user missed, in order, then goes on live without a repeat", async () => {
  const first = await login(a, "roamer");
  for (let i = 1; i <= 3; i++) expect((await api(b, "Publish", { uid: "roamer", evt: `p${i}` })).status).toBe(200);
  await first.until(() => positioned(first).length >= 3, 3000, "3 pushes");
  const last = positioned(first).at(-1) as { epoch: string; seq: number };
  first.close();
  await first.closed;
  await waitFor(() => a.hub.sessions.get("roamer") === undefined, "the session gone");
  // Published while the user is away, through either instance.
  for (let i = 4; i <= 6; i++) await api(i % 2 ? a : b, "Publish", { uid: "roamer", evt: `p${i}` });
  const back = await login(b, "roamer", { recover: { u: { epoch: last.epoch, seq: last.seq } } });
  expect(reports(back)).toEqual([{ u: true }]);
  await api(a, "Publish", { uid: "roamer", evt: "p7" });
  await back.until(() => positioned(back).length >= 4, 3000, "the replay and p7");
  expect(positioned(back).map((p) => `${p.evt}@${p.seq}`)).toEqual(["p4@4", "p5@5", "p6@6", "p7@7"]);
  // The report came after the replay and before anything live.
  const kinds = back.frames.filter((f) => f.t === "PUSH" || (f.hb as { recovered?: unknown })?.recovered);
  expect(kinds.map((f) => (f.t === "PUSH" ? (f.push as { evt: string }).evt : "report"))).toEqual([
    "p4",
    "p5",
    "p6",
    "report",
    "p7",
  ]);
  back.close();
});

test("a position of another epoch, or ahead of the log, recovers nothing: false, and nothing of that stream", async () => {
  await api(a, "Broadcast", { rid: "", evt: "w1" });
  const c = await login(b, "stranger", { recover: { u: { epoch: "nope", seq: 1 }, w: { epoch: "", seq: 0 } } });
  expect(reports(c)).toEqual([{ u: false, w: false }]);
  expect(positioned(c)).toEqual([]);
  c.close();
});

test("the metrics: round trips to the log timed, nothing dropped while Redis is up", async () => {
  expect(await metric(a, "comet_history_store_seconds_count")).toBeGreaterThan(0);
  expect(await metric(a, "comet_history_store_errors_total")).toBe(0);
  expect(await metric(b, "comet_events_dropped_total", { reason: "history_store" })).toBe(0);
});
