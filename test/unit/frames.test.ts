import { describe, expect, test } from "bun:test";
import { decodeUplink, encodePush, HB_FRAME, MsgType } from "../../src/protocol/frames.ts";

const ok = (text: string) => {
  const d = decodeUplink(text);
  if (!d.ok) throw new Error(`expected ok, got ${d.error.reason}`);
  return d.frame;
};
const err = (text: string) => {
  const d = decodeUplink(text);
  if (d.ok) throw new Error(`expected an error for ${text}`);
  return d.error;
};

describe("decodeUplink", () => {
  test("t is read by name or number", () => {
    expect(ok('{"t":"HB"}').t).toBe(MsgType.HB);
    expect(ok('{"t":0}').t).toBe(MsgType.HB);
    expect(ok('{"t":"AUTH","auth":{"token":"x"}}')).toEqual({ t: 1, token: "x", join: undefined });
    expect(ok('{"t":1,"auth":{"token":"x"},"join":{"rid":"r"}}')).toEqual({ t: 1, token: "x", join: "r" });
    expect(ok('{"t":2,"join":{"rid":"r"}}')).toEqual({ t: 2, rid: "r" });
  });

  test("{} and a frame with no t are HB", () => {
    expect(ok("{}").t).toBe(MsgType.HB);
    expect(ok('{"hb":{}}').t).toBe(MsgType.HB);
  });

  test("type is another name for t, and t wins when both are present", () => {
    expect(ok('{"type":"JOIN","join":{"rid":"a"}}')).toEqual({ t: 2, rid: "a" });
    expect(ok('{"t":"HB","type":"JOIN"}').t).toBe(MsgType.HB);
  });

  test("JOIN without join or rid leaves any room", () => {
    expect(ok('{"t":"JOIN"}')).toEqual({ t: 2, rid: "" });
    expect(ok('{"t":"JOIN","join":{}}')).toEqual({ t: 2, rid: "" });
  });

  test("AUTH without a token decodes; the connection answers 4401", () => {
    expect(ok('{"t":"AUTH"}')).toEqual({ t: 1, token: undefined, join: undefined });
    expect(ok('{"t":"AUTH","auth":{}}')).toEqual({ t: 1, token: undefined, join: undefined });
  });

  test.each([
    ["not json", "malformed JSON"],
    ["", "malformed JSON"],
    ['{"t":"AUTH"', "malformed JSON"],
    ["[]", "frame must be a JSON object"],
    ["null", "frame must be a JSON object"],
    ["42", "frame must be a JSON object"],
    ['"HB"', "frame must be a JSON object"],
    ['{"t":"NOPE"}', "unknown t"],
    ['{"t":4}', "unknown t"],
    ['{"t":-1}', "unknown t"],
    ['{"t":1.5}', "unknown t"],
    ['{"t":true}', "unknown t"],
    ['{"t":"hb"}', "unknown t"],
    ['{"t":"PUSH","push":{"evt":"x"}}', "PUSH is downlink only"],
    ['{"t":3}', "PUSH is downlink only"],
    ['{"t":"AUTH","auth":"tok"}', "auth must be an object"],
    ['{"t":"AUTH","auth":{"token":5}}', "auth.token must be a string"],
    ['{"t":"JOIN","join":"room"}', "join must be an object"],
    ['{"t":"JOIN","join":{"rid":7}}', "join.rid must be a string"],
    ['{"t":"HB","hb":[]}', "hb must be an object"],
  ])("bad input %p is closed 4400 (%s)", (text, reason) => {
    expect(err(text)).toEqual({ code: 4400, reason });
  });

  test("random bytes never throw", () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = crypto.getRandomValues(new Uint8Array(1 + (i % 40)));
      const text = new TextDecoder().decode(bytes);
      expect(() => decodeUplink(text)).not.toThrow();
    }
  });
});

describe("downlink encoding", () => {
  test("HB probe is written by name", () => {
    expect(JSON.parse(HB_FRAME)).toEqual({ t: "HB", hb: {} });
  });

  test("evt is escaped once and comes back byte for byte", () => {
    for (const evt of [
      "",
      'quote " and \\ backslash',
      "line\nbreak\u0000",
      "😀 \u2028 é",
      '{"json":"inside"}',
      "\ud800",
    ]) {
      const frame = encodePush(evt);
      expect(JSON.parse(frame)).toEqual({ t: "PUSH", push: { evt } });
    }
  });
});
