/**
 * Routed topics (mqtt.routing: on) take the same way in as the events topic: PUBLISH packets of
 * QoS 0 and 1 through the fast path (publish-tap.ts → the link's deliver), QoS 2 through mqtt.js,
 * and a retained Event, replayed by the broker when a routed subscription is made, is dropped and
 * counted like one on the events topic.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { RoutedTopics } from "../../src/bridge/routing/topics.ts";
import { type Client, connect } from "../helpers.ts";
import { OBSERVER, TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const routed = new RoutedTopics("comet/events");
let broker: TestBroker;
let server: Comet;
let pub: Observer;
const clients: Client[] = [];

beforeAll(async () => {
  broker = await TestBroker.start();
  pub = await Observer.connect(broker.url, [], OBSERVER);
  // A stale world broadcast, in the broker's store before the instance subscribes /w.
  await pub.client.publishAsync(routed.world, JSON.stringify({ evt: STALE }), { qos: 1, retain: true });
  // mqtt.qos 2: the broker keeps each Event's own QoS, so QoS 2 reaches mqtt.js.
  server = await startComet(`mqtt: {url: "${broker.url}", routing: on, qos: 2}`);
  await waitReadyz(server, 200);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await pub?.client.publishAsync(routed.world, "", { qos: 1, retain: true });
  await pub?.client.publishAsync(routed.user("kim") as string, "", { qos: 1, retain: true });
  await pub?.close();
  await server?.stop();
  await broker?.stop();
});

const retainedCount = () => metric(server, "comet_bridge_events_in_total", { outcome: "retained" });
const routesSettled = () =>
  waitFor(async () => (await metric(server, "comet_bridge_routes_pending")) === 0, "the routed subscription");

test("a retained Event on the world topic, replayed at the subscription, is dropped and counted", async () => {
  await waitFor(async () => (await retainedCount()) === 1, "the world topic's replay counted as retained");
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "no_recipient" })).toBe(0);
});

test("a retained Event on a user's routed topic is dropped when the user's subscription is made", async () => {
  const before = await retainedCount();
  await pub.client.publishAsync(routed.user("kim") as string, JSON.stringify({ uid: "kim", evt: STALE }), {
    qos: 1,
    retain: true,
  });
  const kim = await connect(server, "kim");
  clients.push(kim);
  await routesSettled();
  await waitFor(async () => (await retainedCount()) === before + 1, "the user topic's replay counted as retained");
  await pub.client.publishAsync(routed.user("kim") as string, JSON.stringify({ uid: "kim", evt: "live" }), { qos: 1 });
  expect(await kim.waitPushes(1)).toEqual(["live"]);
  expect(kim.pushes()).not.toContain(STALE);
});

test("routed Events at QoS 0, 1 and 2 are each delivered once, by the fast path and by mqtt.js", async () => {
  const kim = clients[0] as Client;
  const delivered = await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" });
  for (const qos of [0, 1, 2] as const) {
    await pub.client.publishAsync(routed.user("kim") as string, JSON.stringify({ uid: "kim", evt: `user q${qos}` }), {
      qos,
    });
    await pub.client.publishAsync(routed.world, JSON.stringify({ evt: `world q${qos}` }), { qos });
  }
  // Sorted: the two ways in need not keep the order between them.
  const expected = ["live", "user q0", "user q1", "user q2", "world q0", "world q1", "world q2"];
  expect((await kim.waitPushes(expected.length)).sort()).toEqual(expected);
  await Bun.sleep(300);
  expect(kim.pushes().sort()).toEqual(expected);
  expect(kim.pushes()).not.toContain(STALE);
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" })).toBe(delivered + 6);
});

const STALE = "a stale command, replayed";
