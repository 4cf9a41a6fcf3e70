import { describe, expect, test } from "bun:test";
import { compileRoomsClaim } from "../../src/auth/rooms.ts";

describe("rooms claim matcher", () => {
  test("exact rids and prefixes", () => {
    const m = compileRoomsClaim(["lobby", "team-42/*"]);
    if (!m) throw new Error("expected a matcher");
    expect(m.allows("lobby")).toBe(true);
    expect(m.allows("team-42/")).toBe(true);
    expect(m.allows("team-42/x")).toBe(true);
    expect(m.allows("team-42/x/y")).toBe(true);
    expect(m.allows("team-42")).toBe(false);
    expect(m.allows("team-421/x")).toBe(false);
    expect(m.allows("lobby2")).toBe(false);
    expect(m.allows("Lobby")).toBe(false);
    expect(m.allows("")).toBe(false);
  });

  test('"*" allows every room', () => {
    const m = compileRoomsClaim(["x", "*"]);
    expect(m?.allows("anything")).toBe(true);
  });

  test("an empty claim allows no room", () => {
    expect(compileRoomsClaim([])?.allows("lobby")).toBe(false);
  });

  test("a * inside a rid is literal, only a trailing * is a prefix", () => {
    const m = compileRoomsClaim(["a*b"]);
    expect(m?.allows("a*b")).toBe(true);
    expect(m?.allows("axb")).toBe(false);
  });

  test("a claim that is not an array of strings is refused", () => {
    for (const bad of ["lobby", 5, null, {}, [1], ["a", 2], [["a"]], true]) {
      expect(compileRoomsClaim(bad)).toBeUndefined();
    }
  });
});
