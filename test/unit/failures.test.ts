/** The per-address table of failed admin authentications: its window, its sweep, its bound. */
import { expect, test } from "bun:test";
import { FailureLimiter } from "../../src/auth/failures.ts";

const limiter = () => {
  const n = { unauthorized: 0, limited: 0 };
  const l = new FailureLimiter(20, {
    unauthorized: { inc: () => n.unauthorized++ },
    limited: { inc: () => n.limited++ },
  });
  return { l, n };
};

test("past 20 failures within a second the address is limited; the next second starts afresh", () => {
  const { l, n } = limiter();
  for (let i = 0; i < 20; i++) expect(l.failed("10.0.0.1", 1000 + i)).toBe(false);
  expect(l.failed("10.0.0.1", 1500)).toBe(true);
  expect(l.failed("10.0.0.2", 1500)).toBe(false);
  expect(l.failed("10.0.0.1", 2000)).toBe(false);
  expect(n).toEqual({ unauthorized: 22, limited: 1 });
});

test("addresses whose second has ended are swept, so the table holds only the last second's", () => {
  const { l } = limiter();
  for (let i = 0; i < 500; i++) l.failed(`10.0.${i >> 8}.${i & 255}`, 1000);
  expect(l.size).toBe(500);
  l.failed("10.9.9.9", 2000);
  expect(l.size).toBe(1);
});

test("many addresses failing in one second: the table stops growing, and new ones are limited", () => {
  const { l, n } = limiter();
  for (let i = 0; i < 10_000; i++) l.failed(`a${i}`, 1000);
  expect(l.size).toBe(10_000);
  expect(l.failed("one-too-many", 1001)).toBe(true);
  expect(l.size).toBe(10_000);
  expect(n).toEqual({ unauthorized: 10_000, limited: 1 });
  // Once their second has passed, room again.
  expect(l.failed("one-too-many", 2000)).toBe(false);
  expect(l.size).toBe(1);
});
