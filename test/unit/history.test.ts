import { describe, expect, test } from "bun:test";
import { ENTRY_OVERHEAD, History, STREAM_OVERHEAD } from "../../src/hub/history.ts";

const limits = { size: 4, ttl: 1000, maxBytes: 1 << 20 };
const seqs = (list: ReadonlyArray<{ seq: number }> | null) => list?.map((e) => e.seq) ?? null;
/** What a live stream costs in the budget: the world's, a user's, a room's (its key twice: rid and "r:" + rid). */
const WORLD = STREAM_OVERHEAD;
const user = (uid: string) => STREAM_OVERHEAD + Buffer.byteLength(uid);
const room = (rid: string) => STREAM_OVERHEAD + 2 * Buffer.byteLength(rid) + 2;

describe("history", () => {
  test("a stream numbers from 1 with no gaps and keeps its last `size` messages", () => {
    const h = new History(limits);
    const s = h.holdUser("alice", 0);
    for (let i = 1; i <= 6; i++) expect(h.append(s, `m${i}`, i)).toBe(i);
    expect(s.kept?.map((e) => e.evt)).toEqual(["m3", "m4", "m5", "m6"]);
    expect(h.evicted.size).toBe(2);
    expect(h.entries).toBe(4);
  });

  test("recover: what follows the position, all or nothing", () => {
    const h = new History(limits);
    const s = h.holdUser("alice", 0);
    for (let i = 1; i <= 6; i++) h.append(s, `m${i}`, i);
    const at = (seq: number, epoch = s.epoch) => seqs(h.recover(s, { epoch, seq }, 10));
    expect(at(2)).toEqual([3, 4, 5, 6]);
    expect(at(4)).toEqual([5, 6]);
    expect(at(6)).toEqual([]);
    expect(at(1)).toBeNull(); // 2 was evicted: never a partial replay
    expect(at(0)).toBeNull();
    expect(at(7)).toBeNull(); // ahead of the stream
    expect(at(4, "other")).toBeNull();
    expect(at(4, "")).toBeNull();
    expect(seqs(h.recover(undefined, { epoch: s.epoch, seq: 4 }, 10))).toBeNull();
  });

  test("a stream with nothing published recovers seq 0 as true, nothing to send", () => {
    const h = new History(limits);
    const s = h.holdUser("alice", 0);
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 0 }, 1))).toEqual([]);
  });

  test("size 0 keeps nothing but still numbers", () => {
    const h = new History({ ...limits, size: 0 });
    const s = h.holdUser("alice", 0);
    expect(h.append(s, "a", 1)).toBe(1);
    expect(h.append(s, "b", 2)).toBe(2);
    expect(h.bytes).toBe(WORLD + user("alice")); // the streams alone
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 1 }, 3))).toBeNull();
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 2 }, 3))).toEqual([]);
  });

  test("every stream has its own epoch, and another History (a restart) has others", () => {
    const a = new History(limits);
    const b = new History(limits);
    const epochs = [a.world, a.holdUser("x", 0), a.holdRoom("x", 0), b.world, b.holdUser("x", 0)].map((s) => s.epoch);
    expect(new Set(epochs).size).toBe(epochs.length);
  });

  test("messages older than ttl are not recovered, and the sweep frees them", () => {
    const h = new History(limits);
    const s = h.holdUser("alice", 0);
    h.append(s, "old", 0);
    h.append(s, "new", 600);
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 0 }, 999))).toEqual([1, 2]);
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 0 }, 1000))).toBeNull();
    expect(seqs(h.recover(s, { epoch: s.epoch, seq: 1 }, 1000))).toEqual([2]);
    h.sweep(1600);
    expect(h.entries).toBe(0);
    expect(h.bytes).toBe(WORLD + user("alice")); // held: the stream stays, and its cost
    expect(h.evicted.ttl).toBe(2);
  });

  test("a released stream lives ttl, keeps what is published to it, then goes with its messages", () => {
    const h = new History(limits);
    const s = h.holdUser("alice", 0);
    h.append(s, "a", 0);
    h.release(s, 100);
    const again = h.user("alice", 500);
    expect(again).toBe(s);
    h.append(s, "while away", 500);
    expect(h.holdUser("alice", 900)).toBe(s); // back within ttl: the same stream, the same epoch
    h.release(s, 1000);
    expect(h.user("alice", 1999)).toBe(s);
    expect(h.user("alice", 2000)).toBeUndefined();
    const fresh = h.holdUser("alice", 2000);
    expect(fresh.epoch).not.toBe(s.epoch);
    expect(fresh.seq).toBe(0);
    expect(h.entries).toBe(0);
  });

  test("the sweep drops streams released more than ttl ago", () => {
    const h = new History(limits);
    for (let i = 0; i < 10; i++) h.release(h.holdRoom(`r${i}`, 0), i * 100);
    expect(h.streams).toBe(11);
    h.sweep(1450); // r0..r4 released at or before 450
    expect(h.streams).toBe(6);
    expect(h.room("r5", 1450)).toBeDefined();
    expect(h.room("r4", 1450)).toBeUndefined();
  });

  test("the world's stream never dies", () => {
    const h = new History(limits);
    h.release(h.world, 0);
    h.sweep(1e9);
    expect(h.world.held).toBe(true);
    expect(h.append(h.world, "x", 1e9)).toBe(1);
  });

  test("one byte budget for the instance, oldest first out, whatever stream it is in", () => {
    const evt = "x".repeat(100);
    const cost = 100 + ENTRY_OVERHEAD;
    const streams = WORLD + user("a") + user("b");
    const h = new History({ size: 100, ttl: 1e9, maxBytes: cost * 5 + streams });
    const a = h.holdUser("a", 0);
    const b = h.holdUser("b", 0);
    for (let i = 0; i < 4; i++) h.append(a, evt, i);
    for (let i = 4; i < 8; i++) h.append(b, evt, i);
    expect(h.bytes).toBe(cost * 5 + streams);
    expect(h.evicted.max_bytes).toBe(3);
    expect(a.kept?.map((e) => e.seq)).toEqual([4]);
    expect(b.kept?.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(seqs(h.recover(a, { epoch: a.epoch, seq: 2 }, 9))).toBeNull();
    expect(seqs(h.recover(a, { epoch: a.epoch, seq: 3 }, 9))).toEqual([4]);
  });

  test("bytes count UTF-8, so the budget never underestimates a string", () => {
    const h = new History(limits);
    const s = h.holdUser("a", 0);
    h.append(s, "é😀", 0);
    expect(h.bytes).toBe(6 + ENTRY_OVERHEAD + WORLD + user("a"));
    h.append(s, "a", 0);
    expect(h.bytes).toBe(7 + 2 * ENTRY_OVERHEAD + WORLD + user("a"));
    h.sweep(limits.ttl);
    expect(h.bytes).toBe(WORLD + user("a")); // a held stream's own cost stays while it lives
    const r = h.holdRoom("é", limits.ttl);
    expect(h.bytes).toBe(WORLD + user("a") + room("é"));
    h.release(r, limits.ttl);
    h.sweep(2 * limits.ttl);
    expect(h.bytes).toBe(WORLD + user("a")); // a dropped one's goes with it
  });

  test("streams count from when they are made: rooms JOINed and left, each with a long name, stay within max_bytes", () => {
    const rid = (i: number) => `${"r".repeat(4000)}-${i}`;
    const maxBytes = 100 * room(rid(0));
    const h = new History({ size: 4, ttl: 1e9, maxBytes });
    const member = h.holdRoom("kept", 0);
    h.append(member, "still here", 0);
    // One client, room after room: each left behind (released) for ttl, with nothing in it.
    let last = h.holdRoom(rid(0), 0);
    for (let i = 1; i < 1000; i++) {
      h.release(last, i);
      last = h.holdRoom(rid(i), i);
    }
    expect(h.bytes).toBeLessThanOrEqual(maxBytes);
    expect(h.streams).toBeLessThan(110);
    expect(h.streamsEvicted).toBeGreaterThan(890);
    // The released went, the oldest first; the held stayed with what they keep.
    expect(h.room(rid(0), 1000)).toBeUndefined();
    expect(h.room(rid(998), 1000)).toBeDefined();
    expect(member.kept?.map((e) => e.evt)).toEqual(["still here"]);
    expect(last.held).toBe(true);
  });

  test("over max_bytes, released streams go before any held stream's messages", () => {
    const evt = "x".repeat(100);
    const cost = 100 + ENTRY_OVERHEAD;
    const maxBytes = WORLD + user("live") + user("gone") + 3 * cost;
    const h = new History({ size: 100, ttl: 1e9, maxBytes });
    const live = h.holdUser("live", 0);
    const gone = h.holdUser("gone", 0);
    h.append(gone, evt, 0);
    h.release(gone, 1);
    h.append(live, evt, 2);
    h.append(live, evt, 3);
    expect(h.bytes).toBe(maxBytes);
    h.append(live, evt, 4); // one too many: the released stream goes, with its message
    expect(h.user("gone", 5)).toBeUndefined();
    expect(live.kept?.length).toBe(3);
    expect(h.streamsEvicted).toBe(1);
    expect(h.evicted.max_bytes).toBe(1);
    h.append(live, evt, 6); // nothing released left: the oldest message
    expect(live.kept?.map((e) => e.seq)).toEqual([2, 3, 4]);
  });

  test("held streams alone past max_bytes: counted as they are, nothing refused", () => {
    const h = new History({ size: 4, ttl: 1e9, maxBytes: 1000 });
    const held = Array.from({ length: 10 }, (_, i) => h.holdRoom(`room-${i}`, 0));
    expect(h.bytes).toBe(WORLD + held.reduce((n, s) => n + s.cost, 0));
    expect(h.bytes).toBeGreaterThan(1000);
    expect(h.append(held[0]!, "m", 1)).toBe(1); // numbered, and not kept: over the budget
    expect(held[0]!.kept).toBeNull();
    expect(h.streams).toBe(11);
  });
});
