/**
 * Recovery from the shared log on whichever instance a client reaches (history.store: redis, two
 * Redis shards, two instances on Mosquitto): the SDK through a proxy that cuts its connection and
 * sends each reconnect to the other instance, SSE's Last-Event-ID on the other instance, and a
 * recover after every instance was restarted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { PushPosition } from "../../src/client/index.ts";
import { api, Client, token, waitFor } from "../helpers.ts";
import type { Comet } from "../bridge/util.ts";
import { client, closeClients } from "../client/recorded.ts";
import { CutProxy } from "../support/cut-proxy.ts";
import { type SseEvent, StreamClient } from "../support/stream-client.ts";
import { type LogCluster, positioned, reports, startLogCluster } from "./log-cluster.ts";

let cluster: LogCluster;

beforeAll(async () => {
  cluster = await startLogCluster({ shards: 2 });
});

afterAll(async () => {
  closeClients();
  await cluster?.stop();
});

const inst = (i: number): Comet => cluster.instances[i % cluster.instances.length] as Comet;
const portOf = (c: Comet): number => Number(new URL(c.url).port);

/** Per stream: its evts in order, each seq the one after the last. */
function expectWhole(got: Array<{ evt: string; stream: string; seq: number }>, sent: Record<string, string[]>) {
  for (const [stream, evts] of Object.entries(sent)) {
    const mine = got.filter((p) => p.stream === stream);
    expect(mine.map((p) => p.evt)).toEqual(evts);
    const first = mine[0]?.seq ?? 1;
    expect(mine.map((p) => p.seq)).toEqual(evts.map((_, i) => first + i));
  }
}

test(
  "1,000 messages through both instances; the SDK's connection cut ten times, each reconnect to the other instance: nothing lost or repeated",
  { timeout: 30_000 },
  async () => {
    let target = 0;
    const proxy = await CutProxy.to(() => portOf(inst(target)));
    const { c } = client({ url: proxy.ws, token: await token("cutter"), rid: "cut-room" });
    const got: Array<{ evt: string; stream: string; seq: number }> = [];
    const gaps: unknown[] = [];
    const recovered: Array<Record<string, boolean>> = [];
    c.on("push", (evt: string, p?: PushPosition) => got.push({ evt, stream: p?.stream ?? "", seq: p?.seq ?? 0 }))
      .on("gap", (g: unknown) => gaps.push(g))
      .on("recovered", (r: Readonly<Record<string, boolean>>) => recovered.push({ ...r }));
    await c.connect();
    await waitFor(() => inst(0).hub.sessions.get("cutter")?.rid === "cut-room", "the first session");
    const sent: Record<string, string[]> = { u: [], "r:cut-room": [], w: [] };
    for (let i = 0; i < 1000; i++) {
      const evt = `m${i}`;
      const kind = i % 3;
      const via = inst(i);
      if (kind === 0) await api(via, "Publish", { uid: "cutter", evt });
      else if (kind === 1) await api(via, "Broadcast", { rid: "cut-room", evt });
      else await api(via, "Broadcast", { evt });
      (sent[kind === 0 ? "u" : kind === 1 ? "r:cut-room" : "w"] as string[]).push(evt);
      if (i % 100 === 50) {
        target++;
        proxy.cut();
      }
    }
    await waitFor(() => got.length >= 1000, "all 1,000", 15_000);
    await Bun.sleep(150);
    expect(got).toHaveLength(1000);
    expectWhole(got, sent);
    expect(gaps).toEqual([]);
    expect(recovered.length).toBeGreaterThanOrEqual(10);
    for (const r of recovered) expect(Object.values(r).every(Boolean)).toBe(true);
    c.close();
    await proxy.close();
  },
);

async function openSse(server: Comet, uid: string, lastId?: string): Promise<StreamClient> {
  const s = new StreamClient(server.url, {
    path: `/comet/sse?rid=sse-room&token=${await token(uid)}`,
    kind: "sse",
    headers: lastId === undefined ? {} : { "last-event-id": lastId },
  });
  await s.opened;
  expect(s.status).toBe(200);
  await waitFor(() => server.hub.sessions.get(uid)?.rid === "sse-room", `session ${uid}`);
  return s;
}

type Push = { evt: string; stream: string; seq: number; epoch: string };
const pushOf = (e: SseEvent): Push => (JSON.parse(e.data) as { push: Push }).push;

test("SSE: a stream cut on one instance resumes on the other from its Last-Event-ID, once each, in order", async () => {
  const [a, b] = [inst(0), inst(1)];
  const first = await openSse(a, "reader");
  // The opening id is the log's: a reconnect from it alone would miss nothing.
  expect(first.lastId).toMatch(/^u:[0-9a-z]+:0,r:[0-9a-z]+:0,w:[0-9a-z]+:\d+$/);
  const sent: Record<string, string[]> = { u: [], "r:sse-room": [], w: [] };
  let cut = false;
  for (let i = 0; i < 300; i++) {
    const evt = `s${i}`;
    const kind = i % 3;
    if (kind === 0) await api(i % 2 ? a : b, "Publish", { uid: "reader", evt });
    else await api(i % 2 ? a : b, "Broadcast", { rid: kind === 1 ? "sse-room" : "", evt });
    (sent[kind === 0 ? "u" : kind === 1 ? "r:sse-room" : "w"] as string[]).push(evt);
    if (!cut && first.events.length >= 100) {
      cut = true;
      first.close();
    }
  }
  await first.waitEnd();
  await waitFor(() => !a.hub.sessions.has("reader"), "the first session gone");
  const before = first.events.map(pushOf);
  const second = await openSse(b, "reader", first.lastId);
  await second.until(() => before.length + second.events.length >= 300, 5000, "all 300");
  expect(second.events.some((e) => e.event === "gap")).toBe(false);
  await Bun.sleep(100);
  expect(before.length + second.events.length).toBe(300);
  expectWhole([...before, ...second.events.map(pushOf)], sent);
  second.close();
});

test("every instance restarted: the epochs are the same, and a client recovers from the log", { timeout: 20_000 }, async () => {
  const c = new Client(inst(0).ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: await token("survivor") }, join: { rid: "kept" }, positions: true });
  await waitFor(() => inst(0).hub.sessions.get("survivor") !== undefined, "the session");
  await Bun.sleep(30);
  for (let i = 0; i < 3; i++) await api(inst(i), "Broadcast", { rid: "kept", evt: `k${i}` });
  await c.until(() => positioned(c).length >= 3, 3000, "3 pushes");
  const seen = positioned(c);
  c.close();
  // Every instance goes; the log stays.
  await Promise.all(cluster.instances.splice(0).map((s) => s.stop()));
  await cluster.add();
  await cluster.add();
  await api(inst(1), "Broadcast", { rid: "kept", evt: "k3" });
  const at = seen[0] as Push;
  const back = new Client(inst(0).ws);
  await back.opened;
  back.send({
    t: "AUTH",
    auth: { token: await token("survivor") },
    join: { rid: "kept" },
    recover: { r: { epoch: at.epoch, seq: at.seq } },
  });
  await back.until(() => reports(back).length > 0, 3000, "the report");
  expect(reports(back)).toEqual([{ r: true }]);
  expect(positioned(back).map((p) => `${p.evt}@${p.seq}:${p.epoch === at.epoch}`)).toEqual([
    "k1@2:true",
    "k2@3:true",
    "k3@4:true",
  ]);
  back.close();
  // The streams of this file are spread over both shards.
  for (const r of cluster.redis) expect((await (await r.client()).keys("comet:pos:*")).length).toBeGreaterThan(0);
});
