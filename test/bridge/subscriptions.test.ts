/**
 * The routed subscriptions' bookkeeping against a fake connection: batching, the linger, what a
 * reconnect asks again, stale answers. Against real brokers: routing-suite.ts, routing-broker.test.ts.
 */
import { expect, test } from "bun:test";
import type { Qos } from "../../src/bridge/wire/qos.ts";
import { type SubscribeWire, Subscriptions, TOPICS_PER_PACKET } from "../../src/bridge/routing/subscriptions.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { silentLogger } from "../../src/log.ts";

type Done = (err: Error | undefined, refused: string[]) => void;

class FakeWire implements SubscribeWire {
  connected = true;
  generation = 1;
  readonly subscribes: Array<{ topics: string[]; done: Done }> = [];
  readonly unsubscribes: string[][] = [];
  subscribe(topics: readonly string[], _qos: Qos, done: Done): void {
    this.subscribes.push({ topics: [...topics], done });
  }
  unsubscribe(topics: readonly string[]): void {
    this.unsubscribes.push([...topics]);
  }
  /** The broker answers every SUBSCRIBE so far, refusing the topics named. */
  ack(refused: string[] = []): void {
    for (const s of this.subscribes)
      s.done(
        undefined,
        refused.filter((t) => s.topics.includes(t)),
      );
  }
}

const LINGER = 60;
const BATCH = 5;

function setup() {
  const registry = new Registry();
  const wire = new FakeWire();
  const packets = registry.counter("packets", "");
  const refused = registry.counter("refused", "");
  const subs = new Subscriptions(wire, {
    qos: 0,
    packets,
    refused,
    log: silentLogger,
    lingerMs: LINGER,
    batchMs: BATCH,
  });
  return { wire, subs, packets, refused };
}

const tick = (ms: number) => Bun.sleep(ms);

test("holds within the batch window go out in one SUBSCRIBE per 1,000 topics, each topic once", async () => {
  const { wire, subs, packets } = setup();
  const topics = Array.from({ length: 2500 }, (_, i) => `t/${i}`);
  for (const t of topics) subs.hold(t);
  subs.hold("t/0");
  expect(wire.subscribes).toEqual([]);
  expect(subs.pending).toBe(2500);
  await tick(BATCH * 4);
  expect(wire.subscribes.map((s) => s.topics.length)).toEqual([TOPICS_PER_PACKET, TOPICS_PER_PACKET, 500]);
  expect(wire.subscribes.flatMap((s) => s.topics)).toEqual(topics);
  expect(packets.get({ type: "subscribe" })).toBe(3);
  expect(subs.pending).toBe(2500);
  wire.ack();
  expect(subs.pending).toBe(0);
  expect(subs.size).toBe(2500);
  subs.close();
});

test("a topic released and held again within the linger costs nothing; after it, one UNSUBSCRIBE", async () => {
  const { wire, subs, packets } = setup();
  subs.hold("u/a");
  subs.hold("u/b");
  await tick(BATCH * 4);
  wire.ack();
  subs.release("u/a");
  subs.release("u/b");
  subs.hold("u/a");
  await tick(LINGER * 3);
  expect(wire.subscribes.length).toBe(1);
  expect(wire.unsubscribes).toEqual([["u/b"]]);
  expect(packets.get({ type: "unsubscribe" })).toBe(1);
  expect(subs.size).toBe(1);
  subs.close();
});

test("a topic held by two goes only when both have released it", async () => {
  const { wire, subs } = setup();
  subs.hold("r/room");
  subs.hold("r/room");
  await tick(BATCH * 4);
  subs.release("r/room");
  await tick(LINGER * 3);
  expect(wire.unsubscribes).toEqual([]);
  subs.release("r/room");
  await tick(LINGER * 3);
  expect(wire.unsubscribes).toEqual([["r/room"]]);
  // A release too many is ignored.
  subs.release("r/room");
  expect(subs.size).toBe(0);
  subs.close();
});

test("a topic released before its SUBSCRIBE went is neither subscribed nor unsubscribed", async () => {
  const { wire, subs } = setup();
  subs.hold("u/flash");
  subs.release("u/flash");
  await tick(LINGER * 3);
  expect(wire.subscribes).toEqual([]);
  expect(wire.unsubscribes).toEqual([]);
  expect(subs.pending).toBe(0);
  subs.close();
});

test("topics the broker refuses are counted", async () => {
  const { wire, subs, refused } = setup();
  subs.hold("u/ok");
  subs.hold("u/denied");
  await tick(BATCH * 4);
  wire.ack(["u/denied"]);
  expect(refused.get()).toBe(1);
  expect(subs.pending).toBe(0);
  subs.close();
});

test("disconnected, holds wait; a new connection asks again for every held topic and forgets lingering ones", async () => {
  const { wire, subs } = setup();
  subs.hold("u/kept");
  subs.hold("u/lingering");
  await tick(BATCH * 4);
  const first = wire.subscribes.length;
  subs.release("u/lingering");
  wire.connected = false;
  subs.hold("u/while-away");
  await tick(BATCH * 4);
  expect(wire.subscribes.length).toBe(first);
  wire.connected = true;
  wire.generation = 2;
  subs.connected();
  expect(wire.subscribes.at(-1)?.topics.sort()).toEqual(["u/kept", "u/while-away"]);
  expect(subs.pending).toBe(2);
  // The first connection's answer comes late: it changes nothing.
  (wire.subscribes[0] as { done: Done }).done(new Error("connection closed"), []);
  expect(subs.pending).toBe(2);
  (wire.subscribes.at(-1) as { done: Done }).done(undefined, []);
  expect(subs.pending).toBe(0);
  await tick(LINGER * 3);
  expect(wire.unsubscribes).toEqual([]);
  expect(subs.size).toBe(2);
  subs.close();
});
