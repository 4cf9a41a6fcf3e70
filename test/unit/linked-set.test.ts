import { describe, expect, test } from "bun:test";
import { LinkedSet, type Listed } from "../../src/gateway/list.ts";

class Item implements Listed<Item> {
  listPrev: Item | null = null;
  listNext: Item | null = null;
  listed = false;
  constructor(readonly n: number) {}
}

const items = (k: number) => Array.from({ length: k }, (_, i) => new Item(i));
const ns = (s: LinkedSet<Item>) => [...s].map((x) => x.n);

describe("LinkedSet (the gateway's open connections)", () => {
  test("keeps insertion order and a size; adding twice or deleting twice changes nothing", () => {
    const s = new LinkedSet<Item>();
    const [a, b, c] = items(3) as [Item, Item, Item];
    s.add(a);
    s.add(b);
    s.add(c);
    s.add(b);
    expect(ns(s)).toEqual([0, 1, 2]);
    expect(s.size).toBe(3);
    expect(s.delete(b)).toBe(true);
    expect(s.delete(b)).toBe(false);
    expect(ns(s)).toEqual([0, 2]);
    expect(s.has(b)).toBe(false);
    s.delete(a);
    s.delete(c);
    expect(ns(s)).toEqual([]);
    expect(s.size).toBe(0);
  });

  test("a walk that deletes the entry it stands on, and others, visits every remaining entry once", () => {
    const s = new LinkedSet<Item>();
    const all = items(10);
    for (const x of all) s.add(x);
    const seen: number[] = [];
    for (const x of s) {
      seen.push(x.n);
      s.delete(x); // the sweep closing the connection it looks at
      if (x.n === 3) {
        s.delete(all[4] as Item); // and one ahead of it
        s.delete(all[5] as Item);
      }
    }
    expect(seen).toEqual([0, 1, 2, 3, 6, 7, 8, 9]);
    expect(s.size).toBe(0);
  });

  test("entries added during a walk are visited, as with a Set", () => {
    const s = new LinkedSet<Item>();
    const [a, b] = items(2) as [Item, Item];
    s.add(a);
    const seen: number[] = [];
    for (const x of s) {
      seen.push(x.n);
      if (x === a) s.add(b);
    }
    expect(seen).toEqual([0, 1]);
  });
});
