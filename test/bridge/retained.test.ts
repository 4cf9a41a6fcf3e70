/**
 * A retained Event is a stale command: the broker replays it on every subscription, so an instance
 * would push it again at every restart and reconnection. The bridge drops what arrives with the
 * retain flag on the events topic, counts it, and delivers live Events as before.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../helpers.ts";
import { OBSERVER, TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let broker: TestBroker;
const servers: Comet[] = [];
const clients: Client[] = [];
const lines: string[] = [];

beforeAll(async () => {
  broker = await TestBroker.start();
});

afterAll(async () => {
  for (const c of clients) c.close();
  for (const s of servers) await s.stop();
  await broker?.stop();
});

async function instance(): Promise<Comet> {
  const s = await startComet(`mqtt: {url: "${broker.url}"}`, lines);
  servers.push(s);
  await waitReadyz(s, 200);
  return s;
}

/** Publishes with the retain flag, as a careless backend would; QoS 1, so the broker has it when this resolves. */
async function publishRetained(payload: string): Promise<void> {
  const pub = await Observer.connect(broker.url, [], OBSERVER);
  await pub.client.publishAsync("comet/events", payload, { qos: 1, retain: true });
  await pub.close();
}

const retainedCount = (s: Comet) => metric(s, "comet_bridge_events_in_total", { outcome: "retained" });

test("an instance that subscribes after a retained Event was published does not deliver it", async () => {
  await publishRetained(JSON.stringify({ evt: STALE }));
  const server = await instance();
  // The broker replays it right after the subscription: counted as retained, not as an Event
  // that found nobody (no_recipient), which is what a delivered world broadcast counts here.
  await waitFor(async () => (await retainedCount(server)) === 1, "the replay counted as retained");
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "no_recipient" })).toBe(0);
  const kim = await connect(server, "kim");
  clients.push(kim);
  await sendEvent({ uid: "kim", evt: "live" });
  expect(await kim.waitPushes(1)).toEqual(["live"]);
});

test("a retained Event replayed when the bridge subscribes again after losing the broker is dropped", async () => {
  const server = servers[0] as Comet;
  const kim = clients[0] as Client;
  const before = await retainedCount(server);
  // The broker comes back refusing the instance (anonymous), so that the retained Event is in its
  // store before the bridge subscribes again: the replay, never a live copy.
  await broker.restart({ anonymous: false });
  await publishRetained(JSON.stringify({ uid: "kim", evt: STALE }));
  await broker.allowAnonymous();
  await waitReadyz(server, 200);
  await waitFor(async () => (await retainedCount(server)) === before + 1, "the replay counted as retained");
  await sendEvent({ uid: "kim", evt: "live again" });
  expect(await kim.waitPushes(2)).toEqual(["live", "live again"]);
  expect(kim.pushes()).not.toContain(STALE);
  expect(kim.closeInfo).toBeUndefined();
});

test("a retained Event published while the instance is subscribed is delivered once: the broker's live copy has no retain flag", async () => {
  const server = servers[0] as Comet;
  const kim = clients[0] as Client;
  const before = await retainedCount(server);
  await publishRetained(JSON.stringify({ uid: "kim", evt: "retained, but live" }));
  expect(await kim.waitPushes(3)).toEqual(["live", "live again", "retained, but live"]);
  expect(await retainedCount(server)).toBe(before);
  // Clears it from the broker's store (an empty retained message), as docs/operations.md says.
  const pub = await Observer.connect(broker.url, [], OBSERVER);
  await pub.client.publishAsync("comet/events", "", { qos: 1, retain: true });
  await pub.close();
});

test("a dropped retained Event is logged, rate-limited, without its content", () => {
  const dropped = lines.map((l) => JSON.parse(l)).filter((o) => o.msg === "mqtt: retained event dropped");
  expect(dropped.length).toBeGreaterThanOrEqual(1);
  expect(dropped[0]).toMatchObject({ level: "warn", topic: "comet/events" });
  expect(dropped[0].reason).toContain("retain");
  expect(lines.join("\n")).not.toContain(STALE);
});

const STALE = "a stale command, replayed";

async function sendEvent(event: { uid: string; evt: string }): Promise<void> {
  const pub = await Observer.connect(broker.url, [], OBSERVER);
  await pub.client.publishAsync("comet/events", JSON.stringify(event), { qos: 1 });
  await pub.close();
}
