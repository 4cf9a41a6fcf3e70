/**
 * mqtt.routing and mqtt.forward_api when the broker is away: the routed subscriptions come back
 * with the connection; forwarded deliveries are dropped and counted, the local ones still made.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RoutedTopics } from "../../src/bridge/routing/topics.ts";
import { api, connect, token } from "../helpers.ts";
import { StreamClient } from "../support/stream-client.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const routed = new RoutedTopics("comet/events");

const settled = (comet: Comet, routes: number) =>
  waitFor(
    async () =>
      (await metric(comet, "comet_bridge_routes_pending")) === 0 &&
      (await metric(comet, "comet_bridge_routes")) === routes,
    `${routes} routed subscriptions, all acknowledged`,
    10_000,
  );

describe("a broker that restarts", () => {
  let broker: TestBroker;
  let comet: Comet;

  beforeAll(async () => {
    broker = await TestBroker.start();
    comet = await startComet(`mqtt: {url: "${broker.url}", routing: on, forward_api: true}`);
    await waitReadyz(comet, 200);
  });

  afterAll(async () => {
    await comet?.stop();
    await broker?.stop();
  });

  test("after the broker restarts, every held topic is subscribed again; a lingering one is not", async () => {
    const alice = await connect(comet, "alice", { rid: "lobby" });
    const gone = await connect(comet, "gone");
    await settled(comet, 3);
    gone.close();
    await gone.closed;
    // "gone" lingers for a second; the broker forgets every subscription meanwhile.
    await broker.restart();
    await waitReadyz(comet, 200, 15_000);
    await settled(comet, 2);
    const pub = await Observer.connect(broker.url, []);
    await pub.publish(routed.user("alice") as string, JSON.stringify({ uid: "alice", evt: "to alice" }));
    await pub.publish(routed.room("lobby") as string, JSON.stringify({ rid: "lobby", evt: "to the lobby" }));
    await pub.publish(routed.world, JSON.stringify({ evt: "to the world" }));
    expect(await alice.waitPushes(3, 5000)).toEqual(["to alice", "to the lobby", "to the world"]);
    expect(await metric(comet, "comet_bridge_route_packets_total", { type: "unsubscribe" })).toBe(0);
    await pub.close();
    alice.close();
    await alice.closed;
  });

  test("with the broker away, the API still delivers here; what it would forward is dropped and counted", async () => {
    const bob = await connect(comet, "bob", { rid: "hall" });
    const notConnected = () => metric(comet, "comet_bridge_forwarded_total", { outcome: "not_connected" });
    const before = await notConnected();
    await broker.kill();
    await waitReadyz(comet, 503);
    expect((await api(comet, "Publish", { uid: "bob", evt: "local" })).status).toBe(200);
    expect((await api(comet, "Broadcast", { rid: "hall", evt: "to the hall" })).status).toBe(200);
    expect((await api(comet, "Publish", { uid: "elsewhere", evt: "lost" })).status).toBe(200);
    expect(await bob.waitPushes(2)).toEqual(["local", "to the hall"]);
    // The Publish to bob went no further; the Broadcast and the Publish to a user not here would have.
    expect(await notConnected()).toBe(before + 2);
    // DumpSession answers at once with this instance's sessions: nobody to ask.
    const dump = await api(comet, "DumpSession", {});
    expect(dump.status).toBe(200);
    expect(dump.json.world.map((s: { uid: string }) => s.uid)).toEqual(["bob"]);
    await broker.restart();
    await waitReadyz(comet, 200, 15_000);
    bob.close();
  });
});

describe("a cluster where only some instances have forward_api", () => {
  let broker: TestBroker;
  let asking: Comet;
  let plain: Comet;

  beforeAll(async () => {
    broker = await TestBroker.start();
    asking = await startComet(`mqtt: {url: "${broker.url}", forward_api: true}`);
    plain = await startComet(`mqtt: {url: "${broker.url}"}`);
    await Promise.all([waitReadyz(asking, 200), waitReadyz(plain, 200)]);
  });

  afterAll(async () => {
    await Promise.all([asking?.stop(), plain?.stop()]);
    await broker?.stop();
  });

  test("every live instance answers a cluster DumpSession, with forward_api or not: none is left unanswered", async () => {
    await waitFor(async () => (await metric(asking, "comet_cluster_servers")) === 2, "both instances live", 10_000);
    const carol = await connect(plain, "carol");
    const started = Date.now();
    const dump = await api(asking, "DumpSession", {});
    expect(dump.status).toBe(200);
    expect(dump.json.unanswered).toBeUndefined();
    expect(dump.json.world.map((s: { uid: string }) => s.uid)).toEqual(["carol"]);
    expect(Date.now() - started).toBeLessThan(1500);
    carol.close();
    await carol.closed;
  });

  test("a cluster DumpSession with transport: true names every transport of the other instance's sessions", async () => {
    await waitFor(async () => (await metric(asking, "comet_cluster_servers")) === 2, "both instances live", 10_000);
    const ws = await connect(plain, "dana");
    const sse = new StreamClient(plain.url, { path: `/comet/sse?token=${await token("erin")}` });
    const ndjson = new StreamClient(plain.url, { kind: "ndjson", path: `/comet/Comet/Subscribe?token=${await token("finn")}` });
    await Promise.all([sse.opened, ndjson.opened]);
    await waitFor(async () => (await metric(plain, "comet_sessions")) === 3, "three sessions on the other instance");
    const dump = await api(asking, "DumpSession", { transport: true });
    expect(dump.status).toBe(200);
    const byUid = Object.fromEntries(
      dump.json.world.map((s: { uid: string; transport?: string }) => [s.uid, s.transport]),
    );
    expect(byUid).toEqual({ dana: "websocket", erin: "sse", finn: "ndjson" });
    ws.close();
    sse.close();
    ndjson.close();
    await Promise.all([ws.closed, sse.done, ndjson.done]);
  });
});
