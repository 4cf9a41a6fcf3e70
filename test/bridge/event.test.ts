import { describe, expect, test } from "bun:test";
import { encodeActivity, encodeForwarded, parseActivity, parseEvent } from "../../src/bridge/wire/event.ts";

const limits = { maxBodyBytes: 1000, maxEvtBytes: 100, maxBatchCommands: 10 };
const enc = (s: string) => new TextEncoder().encode(s);
const parse = (s: string | Uint8Array) => parseEvent(typeof s === "string" ? enc(s) : s, limits);

describe("parseEvent", () => {
  test("an Event with a uid publishes to it (uid wins over rid); without one it broadcasts, absent rid = the world", () => {
    expect(parse('{"uid":"alice","rid":"lobby","evt":"hi"}')).toEqual({
      ok: true,
      delivery: { kind: "publish", uid: "alice", evt: "hi" },
    });
    expect(parse('{"evt":"to the world"}')).toEqual({
      ok: true,
      delivery: { kind: "broadcast", rid: "", evt: "to the world" },
    });
  });

  test("absent and null fields are their default, as on every way in (protobuf's JSON mapping)", () => {
    expect(parse('{"rid":null,"evt":"x"}')).toEqual({ ok: true, delivery: { kind: "broadcast", rid: "", evt: "x" } });
    expect(parse('{"uid":"alice"}')).toEqual({ ok: true, delivery: { kind: "publish", uid: "alice", evt: "" } });
    expect(parse('{"uid":null,"rid":"r","evt":"x"}')).toEqual({
      ok: true,
      delivery: { kind: "broadcast", rid: "r", evt: "x" },
    });
  });

  test("evt is kept exactly, escapes and all characters beyond the BMP included", () => {
    const evt = '{"a":1}\n"\u00e9\u{1f600}';
    const r = parse(JSON.stringify({ uid: "u", evt }));
    expect(r.ok && r.delivery.evt).toBe(evt);
  });

  test("fields it does not know are ignored", () => {
    expect(parse('{"evt":"x","extra":[1,2]}').ok).toBe(true);
  });

  test.each([
    ["not JSON", "hello", "payload is not valid JSON"],
    ["an array", '[{"evt":"x"}]', "payload must be a JSON object"],
    ["null", "null", "payload must be a JSON object"],
    ["a string", '"evt"', "payload must be a JSON object"],
    ["a number uid", '{"uid":7,"evt":"x"}', "uid must be a string, got number"],
    ["an array rid", '{"rid":["a"],"evt":"x"}', "rid must be a string, got array"],
    ["an object evt", '{"evt":{"a":1}}', "evt must be a string, got object"],
  ])("%s is invalid, and the reason says why", (_, payload, reason) => {
    const r = parse(payload);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.outcome).toBe("invalid");
      expect(r.reason).toContain(reason);
    }
  });

  test("bytes that are not UTF-8 are invalid", () => {
    const r = parse(new Uint8Array([0x7b, 0xff, 0x7d]));
    expect(r).toEqual({ ok: false, outcome: "invalid", reason: "payload is not UTF-8" });
  });

  test("a payload over the body limit is too large before it is parsed", () => {
    const r = parse(`{"evt":"${"x".repeat(1000)}"}`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.outcome, r.reason]).toEqual(["too_large", "payload over limits.max_body_bytes (1000 bytes)"]);
  });

  test("evt over max_evt_bytes in UTF-8 bytes is too large; exactly the limit passes", () => {
    expect(parse(JSON.stringify({ evt: "é".repeat(50) })).ok).toBe(true); // 100 bytes
    const r = parse(JSON.stringify({ evt: `${"é".repeat(50)}x` }));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.outcome).toBe("too_large");
  });
});

describe("activity", () => {
  test("goes out with type by name, time as a string of nanoseconds, and the server id", () => {
    const text = encodeActivity(
      { type: "ENTER_ROOM", uid: "alice", rid: "lobby", time: "1732290000123456000" },
      "host-1",
    );
    expect(text).toBe(
      '{"type":"ENTER_ROOM","uid":"alice","rid":"lobby","time":"1732290000123456000","server":"host-1"}',
    );
    expect(parseActivity(enc(text))).toEqual({
      type: "ENTER_ROOM",
      uid: "alice",
      rid: "lobby",
      time: 1732290000123456000n,
      server: "host-1",
    });
  });

  test("is read back as proto3 JSON allows: type as a number, time as a number, no server", () => {
    expect(parseActivity(enc('{"type":1,"uid":"a","time":1732290000000000000}'))).toEqual({
      type: "ONLINE",
      uid: "a",
      rid: "",
      time: 1732290000000000000n,
      server: "",
    });
  });

  test.each([
    ["not JSON", "x"],
    ["an unknown type", '{"type":"ASLEEP","uid":"a","time":"1"}'],
    ["UNSPECIFIED", '{"type":"UNSPECIFIED","uid":"a","time":"1"}'],
    ["no uid", '{"type":"ONLINE","time":"1"}'],
    ["a time that is not digits", '{"type":"ONLINE","uid":"a","time":"-5"}'],
    ["no time", '{"type":"ONLINE","uid":"a"}'],
    ["a server that is not a string", '{"type":"ONLINE","uid":"a","time":"1","server":3}'],
  ])("%s is not activity", (_, payload) => {
    expect(parseActivity(enc(payload))).toBeUndefined();
  });
});

describe("forwarded Events and their positions (history.store: redis)", () => {
  test("a position is read with an origin only, and only a well-formed one", () => {
    const d = { kind: "broadcast" as const, rid: "r", evt: "x" };
    const forwarded = encodeForwarded(d, "web-1", { epoch: "e1", seq: 7 });
    expect(JSON.parse(forwarded)).toEqual({ rid: "r", evt: "x", origin: "web-1", epoch: "e1", seq: 7 });
    expect(parse(forwarded)).toEqual({ ok: true, delivery: d, origin: "web-1", at: { epoch: "e1", seq: 7 } });
    expect(parse(encodeForwarded(d, "web-1"))).toEqual({ ok: true, delivery: d, origin: "web-1" });
    // A backend's Event is appended by whoever reads it: a position without an origin is ignored.
    expect(parse('{"rid":"r","evt":"x","epoch":"e1","seq":7}')).toEqual({ ok: true, delivery: d });
    for (const bad of ['"epoch":"","seq":7', '"epoch":"e1","seq":0', '"epoch":"e1","seq":1.5', '"epoch":5,"seq":7']) {
      expect(parse(`{"rid":"r","evt":"x","origin":"o",${bad}}`)).toEqual({ ok: true, delivery: d, origin: "o" });
    }
  });
});
