/** The outbox against a fake connection: when activity goes out, waits, is dropped, and is counted. */
import { expect, test } from "bun:test";
import { Outbox, type OutboxOptions, type Wire } from "../../src/bridge/wire/outbox.ts";
import type { Qos } from "../../src/bridge/wire/qos.ts";
import type { Activity, ActivityName } from "../../src/hub/activity.ts";
import { Registry } from "../../src/metrics/registry.ts";

class FakeWire implements Wire {
  connected = true;
  generation = 1;
  unsentBytes = 0;
  readonly sent: Array<{ uid: string; qos: Qos; done?: (err?: Error) => void }> = [];
  readonly writable: Array<() => void> = [];
  onceWritable(fn: () => void): void {
    this.writable.push(fn);
  }
  publish(_topic: string, payload: string, qos: Qos, done?: (err?: Error) => void): void {
    this.sent.push({ uid: JSON.parse(payload).uid, qos, done });
  }
  /** The socket wrote its buffer out: every listener of every socket hears it. */
  writableAgain(): void {
    this.unsentBytes = 0;
    for (const fn of this.writable.splice(0)) fn();
  }
}

function outbox(o: Partial<OutboxOptions> = {}) {
  const registry = new Registry();
  const wire = new FakeWire();
  const options: OutboxOptions = {
    topic: "comet/user-activity",
    qos: 0,
    capacity: 3,
    types: new Set<ActivityName>(["ONLINE", "HEARD"]),
    server: "me",
    out: registry.counter("out", ""),
    dropped: registry.counter("dropped", ""),
    ...o,
  };
  return { wire, box: new Outbox(wire, options), options };
}

const heard = (uid: string): Activity => ({ type: "HEARD", uid, rid: "", time: "1" });
const uids = (w: FakeWire) => w.sent.map((s) => s.uid);

test("while connected, activity goes out at once, only the types chosen", () => {
  const { wire, box, options } = outbox();
  box.add(heard("a"));
  box.add({ type: "ENTER_ROOM", uid: "b", rid: "r", time: "2" });
  expect(uids(wire)).toEqual(["a"]);
  expect(options.out.get({ type: "HEARD" })).toBe(1);
  expect(box.size).toBe(0);
});

test("while away, activity waits in order (oldest dropped when full) and goes on flush", () => {
  const { wire, box, options } = outbox();
  wire.connected = false;
  for (const uid of ["a", "b", "c", "d"]) box.add(heard(uid));
  expect(wire.sent).toEqual([]);
  expect(box.size).toBe(3);
  expect(options.dropped.get({ reason: "queue_full" })).toBe(1);
  wire.connected = true;
  box.flush();
  expect(uids(wire)).toEqual(["b", "c", "d"]);
  expect(box.size).toBe(0);
});

test("a backlogged socket holds activity until it is writable again, with one listener", () => {
  const { wire, box } = outbox();
  wire.unsentBytes = 2 << 20;
  box.add(heard("a"));
  box.add(heard("b"));
  expect(wire.sent).toEqual([]);
  expect(wire.writable.length).toBe(1);
  wire.writableAgain();
  expect(uids(wire)).toEqual(["a", "b"]);
  box.add(heard("c"));
  expect(uids(wire)).toEqual(["a", "b", "c"]);
});

test("a writable signal of an earlier connection flushes nothing; the new one waits anew", () => {
  const { wire, box } = outbox();
  wire.unsentBytes = 2 << 20;
  box.add(heard("a"));
  wire.generation = 2;
  box.add(heard("b"));
  expect(wire.writable.length).toBe(2);
  wire.unsentBytes = 2 << 20;
  wire.writable.shift()?.();
  expect(wire.sent).toEqual([]);
  wire.writableAgain();
  expect(uids(wire)).toEqual(["a", "b"]);
});

test("at QoS 1, activity counts as out when acknowledged, as dropped when the publish fails", () => {
  const { wire, box, options } = outbox({ qos: 1 });
  box.add(heard("a"));
  box.add(heard("b"));
  expect(wire.sent.map((s) => s.qos)).toEqual([1, 1]);
  expect(options.out.get({ type: "HEARD" })).toBe(0);
  wire.sent[0]?.done?.();
  wire.sent[1]?.done?.(new Error("connection closed"));
  expect(options.out.get({ type: "HEARD" })).toBe(1);
  expect(options.dropped.get({ reason: "publish_failed" })).toBe(1);
});

test("close drops what waits, counted as shutdown, and takes nothing after", () => {
  const { wire, box, options } = outbox();
  wire.connected = false;
  box.add(heard("a"));
  box.add(heard("b"));
  box.close();
  expect(options.dropped.get({ reason: "shutdown" })).toBe(2);
  wire.connected = true;
  box.add(heard("c"));
  box.flush();
  expect(wire.sent).toEqual([]);
});
