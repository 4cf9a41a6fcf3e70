import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { escapeLevel, RoutedTopics, unescapeLevel } from "../../src/bridge/routing/topics.ts";

const topics = new RoutedTopics("comet/events");

describe("escapeLevel / unescapeLevel", () => {
  test.each([
    ["alice", "alice"],
    ["", ""],
    ["a/b", "a%2Fb"],
    ["+", "%2B"],
    ["#", "%23"],
    ["100%", "100%25"],
    ["%2F", "%252F"],
    ["nul\u0000here", "nul%00here"],
    ["\u{1f600} émoji", "\u{1f600} émoji"],
    ["a/+/#/%", "a%2F%2B%2F%23%2F%25"],
  ])("%j is written %j and read back", (id, level) => {
    expect(escapeLevel(id)).toBe(level);
    expect(unescapeLevel(level)).toBe(id);
  });

  test("every string round-trips, and its level never holds a separator, a wildcard or U+0000", () => {
    const ids = fc.oneof(
      fc.string({ unit: "binary" }),
      fc.string({ unit: fc.constantFrom("%", "/", "+", "#", "\u0000", "2", "F", "a", "\u{1f600}") }),
    );
    fc.assert(
      fc.property(ids, (id) => {
        const level = escapeLevel(id);
        for (const c of ["/", "+", "#", "\u0000"]) expect(level).not.toContain(c);
        expect(unescapeLevel(level)).toBe(id);
      }),
      { numRuns: 5000 },
    );
  });

  test("distinct ids never share a level", () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom("%", "/", "2", "F", "5") }), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(escapeLevel(a)).not.toBe(escapeLevel(b));
      }),
    );
  });

  test.each(["a/b", "a+", "#", "nul\u0000", "%", "%2", "%zz", "%2f", "50%"])(
    "a level escapeLevel cannot have written (%j) reads as undefined",
    (level) => {
      expect(unescapeLevel(level)).toBeUndefined();
    },
  );
});

describe("RoutedTopics", () => {
  test("a user, a room and the world each have a topic under the events topic", () => {
    expect(topics.user("alice")).toBe("comet/events/u/alice");
    expect(topics.room("lobby")).toBe("comet/events/r/lobby");
    expect(topics.world).toBe("comet/events/w");
    expect(topics.user("a/b/#")).toBe("comet/events/u/a%2Fb%2F%23");
    expect(topics.room("")).toBe("comet/events/r/");
  });

  test("a delivery goes to its routed topic; a broadcast with no rid to the world", () => {
    expect(topics.of({ kind: "publish", uid: "+" })).toBe("comet/events/u/%2B");
    expect(topics.of({ kind: "broadcast", rid: "room/1" })).toBe("comet/events/r/room%2F1");
    expect(topics.of({ kind: "broadcast", rid: "" })).toBe("comet/events/w");
  });

  test.each([
    ["a C0 control", "a\u0001b"],
    ["a newline", "line\nbreak"],
    ["DEL", "\u007f"],
    ["a C1 control", "\u0085"],
    ["a BMP noncharacter", "\ufdd0"],
    ["U+FFFF", "x\uffff"],
    ["a supplementary noncharacter", "\u{1fffe}"],
    ["an unpaired high surrogate", "a\ud800"],
    ["an unpaired low surrogate", "\udc00b"],
    ["*, a wildcard on AMQP brokers", "*"],
    ["* inside", "team.*"],
  ])("an id with %s has no routed topic: its Events go on the events topic", (_what, id) => {
    expect(topics.user(id)).toBeUndefined();
    expect(topics.room(id)).toBeUndefined();
    expect(topics.of({ kind: "publish", uid: id })).toBe("comet/events");
    expect(topics.of({ kind: "broadcast", rid: id })).toBe("comet/events");
  });

  test("a long id keeps its topic (a JWT's sub and a JOIN's rid are bounded by the uplink limit)", () => {
    const long = "é/".repeat(2048);
    expect(topics.user(long)).toBe(`comet/events/u/${escapeLevel(long)}`);
  });

  test("a surrogate pair (an emoji) is a character like any other", () => {
    expect(topics.user("\u{1f600}")).toBe("comet/events/u/\u{1f600}");
  });
});
