import { describe, expect, test } from "bun:test";
import { PositionBook } from "../../src/client/positions.ts";

describe("the client's PositionBook", () => {
  test("new, duplicate, seq_jump, epoch_changed", () => {
    const b = new PositionBook();
    expect(b.accept({ stream: "u", seq: 4, epoch: "a" })).toBe("new"); // the first one sets the base
    expect(b.accept({ stream: "u", seq: 5, epoch: "a" })).toBe("new");
    expect(b.accept({ stream: "u", seq: 5, epoch: "a" })).toBe("duplicate");
    expect(b.accept({ stream: "u", seq: 3, epoch: "a" })).toBe("duplicate");
    expect(b.accept({ stream: "u", seq: 9, epoch: "a" })).toEqual({ stream: "u", reason: "seq_jump", missed: 3 });
    expect(b.accept({ stream: "u", seq: 1, epoch: "b" })).toEqual({ stream: "u", reason: "epoch_changed" });
    expect(b.accept({ stream: "w", seq: 1, epoch: "b" })).toBe("new"); // streams are apart
  });

  test("reconnect asks every stream of the session; unknown ones from an empty position", () => {
    const b = new PositionBook();
    b.accept({ stream: "u", seq: 2, epoch: "a" });
    b.accept({ stream: "r:x", seq: 7, epoch: "c" });
    expect(b.reconnect("", true)).toEqual({ u: { epoch: "a", seq: 2 }, w: { epoch: "", seq: 0 } });
    expect(b.reconnect("x", true)).toEqual({
      u: { epoch: "a", seq: 2 },
      w: { epoch: "", seq: 0 },
      r: { epoch: "c", seq: 7 },
    });
    // Still in room y when the connection went, but nothing of it had come: asked, and answered false.
    expect(b.reconnect("y", true).r).toEqual({ epoch: "", seq: 0 });
    // Entering room y while away: nothing of it was missed, nothing to ask.
    expect(b.reconnect("y", false).r).toBeUndefined();
    expect(b.reconnect("x", false).r).toEqual({ epoch: "c", seq: 7 });
  });

  test("rejoin asks only a room it has a position in; forget drops a position", () => {
    const b = new PositionBook();
    b.accept({ stream: "r:x", seq: 7, epoch: "c" });
    expect(b.rejoin("x")).toEqual({ r: { epoch: "c", seq: 7 } });
    expect(b.rejoin("y")).toBeUndefined();
    expect(b.rejoin("")).toBeUndefined();
    b.forget("r:x");
    expect(b.rejoin("x")).toBeUndefined();
    expect(b.accept({ stream: "r:x", seq: 50, epoch: "d" })).toBe("new");
  });

  test("at most 16 rooms are remembered, the least recently heard from go first", () => {
    const b = new PositionBook();
    for (let i = 0; i < 20; i++) b.accept({ stream: `r:${i}`, seq: 1, epoch: "e" });
    b.accept({ stream: "r:4", seq: 2, epoch: "e" }); // heard from again: kept
    b.accept({ stream: "r:20", seq: 1, epoch: "e" });
    const kept = Array.from({ length: 21 }, (_, i) => i).filter((i) => b.rejoin(String(i)) !== undefined);
    expect(kept.length).toBe(16);
    expect(kept).toContain(4);
    expect(kept).toContain(20);
    expect(kept).not.toContain(5);
  });
});
