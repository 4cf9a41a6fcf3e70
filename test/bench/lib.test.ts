/** The bench's measuring parts: the latency histogram and the evt read from a frame's bytes. */
import { describe, expect, test } from "bun:test";
import { makeEvt, makeJsonEvt, pushFrame, readEvt } from "../../bench/lib/evt.ts";
import { Hist } from "../../bench/lib/hist.ts";

describe("Hist", () => {
  test("percentiles are exact below 1 ms and within 0.2 % above, max exact", () => {
    const h = new Hist();
    for (let v = 1; v <= 1000; v++) h.record(v);
    expect(h.percentile(50)).toBe(500);
    expect(h.percentile(99)).toBe(990);
    const big = new Hist();
    for (let v = 1; v <= 100_000; v++) big.record(v * 37);
    for (const p of [50, 90, 99]) {
      const exact = Math.ceil((p / 100) * 100_000) * 37;
      expect(Math.abs(big.percentile(p) - exact) / exact).toBeLessThan(0.002);
    }
    expect(big.percentile(100)).toBe(3_700_000);
    expect(big.max).toBe(3_700_000);
  });

  test("merging sparse copies equals recording everything in one", () => {
    const a = new Hist();
    const b = new Hist();
    const all = new Hist();
    for (let i = 0; i < 5000; i++) {
      const v = (i * 7919) % 250_000;
      (i % 2 ? a : b).record(v);
      all.record(v);
    }
    const m = new Hist().merge(a.toSparse()).merge(b.toSparse());
    expect(m.summary()).toEqual(all.summary());
  });
});

describe("evt", () => {
  test("seq and send time are read back from the PUSH frame's bytes", () => {
    const evt = makeEvt(123, 1795631355041235);
    expect(evt.length).toBe(100);
    const frame = Buffer.from(pushFrame(evt));
    const out = { seq: 0, t: 0 };
    expect(readEvt(frame, 0, frame.length, out)).toBe(true);
    expect(out).toEqual({ seq: 123, t: 1795631355041235 });
  });

  test("a JSON evt is exactly its size, JSON after its head, varies with seq, and is read back", () => {
    for (const size of [2048, 300, 1000]) {
      const evt = makeJsonEvt(7, 1795631355041235, size);
      expect(Buffer.byteLength(evt)).toBe(size);
      const body = evt.slice("7.1795631355041235.".length);
      expect((JSON.parse(body) as { items: unknown[] }).items.length).toBeGreaterThan(0);
      // The frame escapes its quotes; seq and time come first, unescaped.
      const frame = Buffer.from(pushFrame(JSON.stringify(evt).slice(1, -1)));
      const out = { seq: 0, t: 0 };
      expect(readEvt(frame, 0, frame.length, out)).toBe(true);
      expect(out).toEqual({ seq: 7, t: 1795631355041235 });
    }
    expect(makeJsonEvt(8, 1, 2048).slice(4)).not.toBe(makeJsonEvt(9, 1, 2048).slice(4));
  });

  test("frames that are not bench PUSH frames are refused", () => {
    const out = { seq: 0, t: 0 };
    for (const f of ['{"t":"HB","hb":{}}', pushFrame("hello"), pushFrame("12.x.")]) {
      const b = Buffer.from(f);
      expect(readEvt(b, 0, b.length, out)).toBe(false);
    }
  });
});
