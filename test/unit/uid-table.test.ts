/** The hub's uid table against a Map, with the uids a client may pick: prototype names, numbers, any text. */
import { expect, test } from "bun:test";
import fc from "fast-check";
import { UidTable } from "../../src/hub/uid-table.ts";

const uid = fc.oneof(
  fc.constantFrom("__proto__", "constructor", "toString", "hasOwnProperty", "0", "1", "4294967295", "-1", "", "01"),
  fc.nat({ max: 1e7 }).map(String),
  fc.string({ unit: "grapheme", maxLength: 8 }),
);
const op = fc.record({ kind: fc.constantFrom("set", "delete", "get"), uid, value: fc.integer() });

test("any sequence of set, delete and get answers as a Map does: get, has, size, and iteration", () => {
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const t = new UidTable<{ v: number }>();
      const m = new Map<string, { v: number }>();
      for (const o of ops) {
        if (o.kind === "set") {
          const v = { v: o.value };
          t.set(o.uid, v);
          m.set(o.uid, v);
        } else if (o.kind === "delete") expect(t.delete(o.uid)).toBe(m.delete(o.uid));
        else {
          expect(t.get(o.uid)).toBe(m.get(o.uid));
          expect(t.has(o.uid)).toBe(m.has(o.uid));
        }
        expect(t.size).toBe(m.size);
      }
      const byUid = (a: [string, unknown], b: [string, unknown]) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
      expect([...t].sort(byUid)).toEqual([...m].sort(byUid));
      expect([...t.keys()].sort()).toEqual([...m.keys()].sort());
      expect([...t.values()].length).toBe(m.size);
      const seen: string[] = [];
      t.forEach((v, k) => {
        expect(m.get(k)).toBe(v);
        seen.push(k);
      });
      expect(seen.length).toBe(m.size);
    }),
    { numRuns: 500 },
  );
});

test("a uid named like an Object.prototype member is an entry like any other, and the prototype is untouched", () => {
  const t = new UidTable<number>();
  expect(t.get("toString")).toBeUndefined();
  expect(t.has("constructor")).toBe(false);
  t.set("__proto__", 1);
  expect(t.get("__proto__")).toBe(1);
  expect(t.size).toBe(1);
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(t.delete("__proto__")).toBe(true);
  expect(t.size).toBe(0);
});
