import { describe, expect, test } from "bun:test";
import { Hub } from "../../src/hub/hub.ts";
import type { SessionLink } from "../../src/hub/session.ts";
import type { Downlink } from "../../src/protocol/downlink.ts";
import type { Fanout } from "../../src/runtime/types.ts";

/** A fan-out that delivers a topic's frames to the links subscribed to it, as Bun's topics do. */
class FakeFanout implements Fanout {
  readonly topics = new Map<string, Set<FakeLink>>();
  publish(topic: string, frame: Downlink): void {
    for (const l of this.topics.get(topic) ?? []) l.frames.push(frame.json);
  }
}

class FakeLink implements SessionLink {
  readonly transport = "websocket";
  readonly frames: string[] = [];
  readonly subscribed = new Set<string>();
  constructor(private readonly fan: FakeFanout) {}
  send(frame: Downlink): void {
    this.frames.push(frame.json);
  }
  subscribe(topic: string): void {
    this.subscribed.add(topic);
    let s = this.fan.topics.get(topic);
    if (!s) {
      s = new Set();
      this.fan.topics.set(topic, s);
    }
    s.add(this);
  }
  unsubscribe(topic: string): void {
    this.subscribed.delete(topic);
    this.fan.topics.get(topic)?.delete(this);
  }
  kick(): void {}
}

const evts = (l: FakeLink) => l.frames.map((f) => (JSON.parse(f) as { push: { evt: string } }).push.evt);

describe("hub topics: one per session", () => {
  test("a world broadcast reaches every session once, in a room or not, in order with room broadcasts", () => {
    const fan = new FakeFanout();
    const hub = new Hub({ fanouts: [fan] });
    const a = new FakeLink(fan);
    const b = new FakeLink(fan);
    const c = new FakeLink(fan);
    hub.login("a", a);
    const sb = hub.login("b", b);
    const sc = hub.login("c", c);
    hub.join(sb, "red");
    hub.join(sc, "blue");
    expect(hub.broadcast("red", "r1")).toBe(1);
    expect(hub.broadcast("", "w1")).toBe(3);
    expect(hub.broadcast("blue", "b1")).toBe(1);
    expect(hub.broadcast("", "w2")).toBe(3);
    expect(evts(a)).toEqual(["w1", "w2"]);
    expect(evts(b)).toEqual(["r1", "w1", "w2"]);
    expect(evts(c)).toEqual(["w1", "b1", "w2"]);
  });

  test("a session is subscribed to exactly one topic as it moves between rooms, and to none once gone", () => {
    const fan = new FakeFanout();
    const hub = new Hub({ fanouts: [fan] });
    const a = new FakeLink(fan);
    const s = hub.login("a", a);
    expect(a.subscribed.size).toBe(1);
    for (const rid of ["red", "blue", "", "blue", "red"]) {
      hub.join(s, rid);
      expect(a.subscribed.size).toBe(1);
    }
    hub.logout(s);
    expect(a.subscribed.size).toBe(0);
    expect(hub.broadcast("", "nobody")).toBe(0);
    expect(hub.rooms.size).toBe(0);
  });

  test("with every session in a room, a world broadcast still reaches all of them once", () => {
    const fan = new FakeFanout();
    const hub = new Hub({ fanouts: [fan] });
    const links = ["a", "b", "c", "d"].map((uid, i) => {
      const l = new FakeLink(fan);
      hub.join(hub.login(uid, l), i % 2 ? "odd" : "even");
      return l;
    });
    expect(hub.broadcast("", "all")).toBe(4);
    for (const l of links) expect(evts(l)).toEqual(["all"]);
  });
});

describe("hub topics with positions", () => {
  /** Counts the frames made: a broadcast must make a bounded number, whoever receives it. */
  class CountingFanout extends FakeFanout {
    readonly made = new Set<Downlink>();
    override publish(topic: string, frame: Downlink): void {
      this.made.add(frame);
      super.publish(topic, frame);
    }
  }

  test("a broadcast makes at most two frames (with and without position) however many rooms and sessions", () => {
    const fan = new CountingFanout();
    const hub = new Hub({ fanouts: [fan] });
    const links: Array<[FakeLink, boolean]> = [];
    for (let i = 0; i < 200; i++) {
      const l = new FakeLink(fan);
      const positions = i % 3 === 0;
      const s = hub.login(`u${i}`, l, positions);
      if (i % 4 !== 0) hub.join(s, `room${i % 7}`);
      links.push([l, positions]);
    }
    hub.broadcast("", "world");
    expect(fan.made.size).toBe(2);
    fan.made.clear();
    hub.broadcast("room1", "room");
    expect(fan.made.size).toBe(2);
    for (const [l, positions] of links) {
      const frame = JSON.parse(l.frames[0] as string) as { push: Record<string, unknown> };
      expect(Object.keys(frame.push)).toEqual(positions ? ["evt", "stream", "seq", "epoch"] : ["evt"]);
    }
  });

  test("the variant nobody holds is not made", () => {
    const fan = new CountingFanout();
    const hub = new Hub({ fanouts: [fan] });
    hub.join(hub.login("a", new FakeLink(fan)), "r");
    hub.login("b", new FakeLink(fan));
    hub.broadcast("", "x");
    hub.broadcast("r", "y");
    expect([...fan.made].map((f) => f.json)).toEqual([
      '{"t":"PUSH","push":{"evt":"x"}}',
      '{"t":"PUSH","push":{"evt":"y"}}',
    ]);
  });

  test("a session that starts positions later moves to the twin topic, and the counts follow it", () => {
    const fan = new FakeFanout();
    const hub = new Hub({ fanouts: [fan] });
    const l = new FakeLink(fan);
    const s = hub.login("a", l);
    hub.join(s, "r");
    hub.startPositions(s);
    expect([...l.subscribed]).toEqual(["rp:r"]);
    hub.broadcast("r", "1");
    hub.join(s, "");
    expect([...l.subscribed]).toEqual(["rp:"]);
    hub.broadcast("", "2");
    hub.logout(s);
    expect(l.subscribed.size).toBe(0);
    expect(l.frames.map((f) => (JSON.parse(f) as { push: { stream: string } }).push.stream)).toEqual(["r:r", "w"]);
  });
});
