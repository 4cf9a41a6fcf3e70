import { expect, test } from "bun:test";
import { compareUtf8 } from "../../src/util/order.ts";

test("strings sort in UTF-8 byte order, as Go sorts them", () => {
  const input = ["b", "\u{1F600}", "\uFF5E", "a", "ab", "", "\u00e9", "Z"];
  const sorted = [...input].sort(compareUtf8);
  const byBytes = [...input].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
  expect(sorted).toEqual(byBytes);
  // JavaScript's default puts the emoji (a surrogate pair) before U+FF5E; UTF-8 puts it after.
  expect(sorted.indexOf("\u{1F600}")).toBeGreaterThan(sorted.indexOf("\uFF5E"));
});

test("compareUtf8 agrees with byte order on random strings", () => {
  const pick = () => {
    const cps = [0x41, 0x7a, 0xe9, 0x4e2d, 0xe000, 0xfffd, 0x1f600, 0x10000];
    let s = "";
    for (let i = 0; i < 1 + Math.floor(Math.random() * 4); i++)
      s += String.fromCodePoint(cps[Math.floor(Math.random() * cps.length)] as number);
    return s;
  };
  for (let i = 0; i < 2000; i++) {
    const a = pick();
    const b = pick();
    expect(Math.sign(compareUtf8(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
  }
});
