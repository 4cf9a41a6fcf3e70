import { describe, expect, test } from "bun:test";
import { parseJsonObject } from "../../src/protocol/commands.ts";

const bytes = (...b: number[]) => new Uint8Array(b);
const text = (s: string) => new TextEncoder().encode(s);
const detail = (r: ReturnType<typeof parseJsonObject>) => (r.ok ? undefined : r.error.detail);

describe("parseJsonObject: the bytes of a request body or an MQTT Event", () => {
  test("a JSON object in UTF-8, multi-byte characters included", () => {
    expect(parseJsonObject(text('{"uid":"é","evt":"中😀"}'), "body")).toEqual({ ok: true, value: { uid: "é", evt: "中😀" } });
  });

  test("a slice of a larger buffer reads only its own bytes", () => {
    const all = text('xx{"a":1}yy');
    expect(parseJsonObject(all.subarray(2, 9), "payload")).toEqual({ ok: true, value: { a: 1 } });
  });

  test("a leading byte order mark is skipped; one inside a string is kept", () => {
    expect(parseJsonObject(bytes(0xef, 0xbb, 0xbf, ...text('{"evt":"\uFEFFx"}')), "body")).toEqual({
      ok: true,
      value: { evt: "\uFEFFx" },
    });
  });

  test.each([
    ["a lone 0xff", bytes(0x7b, 0xff, 0x7d)],
    ["an overlong '/'", bytes(0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d)],
    ["an encoded surrogate", bytes(0x22, 0xed, 0xa0, 0x80, 0x22)],
    ["a truncated sequence", bytes(0x22, 0xe4, 0xb8)],
  ])("bytes that are not UTF-8 (%s) are refused as such, naming the unit", (_, b) => {
    expect(detail(parseJsonObject(b, "body"))).toBe("body is not UTF-8");
    expect(detail(parseJsonObject(b, "payload"))).toBe("payload is not UTF-8");
  });

  test("UTF-8 that is not JSON, and JSON that is not an object", () => {
    expect(detail(parseJsonObject(text("{uid:1}"), "body"))).toBe("body is not valid JSON");
    expect(detail(parseJsonObject(text("[1]"), "body"))).toBe("body must be a JSON object");
    expect(detail(parseJsonObject(bytes(0xef, 0xbb, 0xbf), "body"))).toBe("body is not valid JSON");
  });

  test("no bytes: {} where the HTTP API allows an empty body, else not JSON", () => {
    expect(parseJsonObject(bytes(), "body", true)).toEqual({ ok: true, value: {} });
    expect(parseJsonObject(text(" \n"), "body", true)).toEqual({ ok: true, value: {} });
    expect(detail(parseJsonObject(bytes(), "payload"))).toBe("payload is not valid JSON");
  });
});
