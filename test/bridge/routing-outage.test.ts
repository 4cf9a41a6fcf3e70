/** mqtt.routing across a broker restart: the routed subscriptions come back with the connection. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { RoutedTopics } from "../../src/bridge/topics.ts";
import { connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let broker: TestBroker;
let comet: Comet;
const routed = new RoutedTopics("comet/events");

beforeAll(async () => {
  broker = await TestBroker.start();
  comet = await startComet(`mqtt: {url: "${broker.url}", routing: on}`);
  await waitReadyz(comet, 200);
});

afterAll(async () => {
  await comet?.stop();
  await broker?.stop();
});

const settled = (routes: number) =>
  waitFor(
    async () =>
      (await metric(comet, "comet_bridge_routes_pending")) === 0 &&
      (await metric(comet, "comet_bridge_routes")) === routes,
    `${routes} routed subscriptions, all acknowledged`,
    10_000,
  );

test("after the broker restarts, every held topic is subscribed again; a lingering one is not", async () => {
  const alice = await connect(comet, "alice", { rid: "lobby" });
  const gone = await connect(comet, "gone");
  await settled(3);
  gone.close();
  await gone.closed;
  // "gone" lingers for a second; the broker forgets every subscription meanwhile.
  await broker.restart();
  await waitReadyz(comet, 200, 15_000);
  await settled(2);
  const pub = await Observer.connect(broker.url, []);
  await pub.publish(routed.user("alice") as string, JSON.stringify({ uid: "alice", evt: "to alice" }));
  await pub.publish(routed.room("lobby") as string, JSON.stringify({ rid: "lobby", evt: "to the lobby" }));
  await pub.publish(routed.world, JSON.stringify({ evt: "to the world" }));
  expect(await alice.waitPushes(3, 5000)).toEqual(["to alice", "to the lobby", "to the world"]);
  expect(await metric(comet, "comet_bridge_route_packets_total", { type: "unsubscribe" })).toBe(0);
  await pub.close();
  alice.close();
});
