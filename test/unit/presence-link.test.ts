/**
 * The presence link's snapshots without a broker: a snapshot of many seats goes in parts whose
 * times strictly increase (the receiver drops what is not newer), and a part seen again is dropped.
 */
import { expect, test } from "bun:test";
import { createLogger } from "../../src/log.ts";
import { Registry } from "../../src/metrics/registry.ts";
import { PresenceLink } from "../../src/presence/link.ts";
import { PresenceView, type ServerList } from "../../src/presence/view.ts";

const KEY = "a-cluster-key-shared-by-the-instances";
const servers = (self: string, other: string): ServerList & { onChange(): () => void } => ({
  self,
  live: () => [self, other].sort(),
  isLive: (s) => s === self || s === other,
  onChange: () => () => {},
});

function instance(self: string, other: string, sessions = new Map<string, { rid: string; onlineUs: number }>()) {
  const registry = new Registry();
  const sent: Array<{ topic: string; payload: string }> = [];
  const s = servers(self, other);
  const view = new PresenceView({ servers: s, sessions, graceMs: 0, emit: () => {} });
  const received = registry.counter("views_in", "views in");
  const link = new PresenceLink({
    view,
    servers: s,
    wire: { connected: true, publish: (topic, payload) => sent.push({ topic, payload }) },
    outbox: { send: () => {} },
    serversTopic: "comet/servers",
    clusterKey: KEY,
    received,
    unsigned: registry.counter("unsigned", "unsigned"),
    log: createLogger("error"),
  });
  return { view, link, sent, received };
}

test("a snapshot in parts: each part later than the one before, all merged; a part seen again is stale", async () => {
  const now = Date.now() * 1000;
  const sessions = new Map(Array.from({ length: 1200 }, (_, i) => [`u${i}`, { rid: "", onlineUs: now + i }] as const));
  const a = instance("a", "b", sessions);
  const b = instance("b", "a");
  a.link.connected();
  await Bun.sleep(80);
  expect(a.sent).toHaveLength(3);
  const times = a.sent.map((m) => BigInt((JSON.parse(m.payload) as { time: string }).time));
  expect(times[0]! < times[1]! && times[1]! < times[2]!).toBe(true);
  for (const m of a.sent) b.link.receive(m.topic, Buffer.from(m.payload));
  expect(b.received.get({ outcome: "merged" })).toBe(3);
  expect(b.view.query(["u0", "u600", "u1199"]).map((p) => p.uid)).toEqual(["u0", "u1199", "u600"]);
  b.link.receive(a.sent[1]!.topic, Buffer.from(a.sent[1]!.payload));
  expect(b.received.get({ outcome: "stale" })).toBe(1);
  for (const x of [a, b]) {
    x.link.close();
    x.view.close();
  }
});
