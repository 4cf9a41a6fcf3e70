import { describe, expect, test } from "bun:test";
import { createLogger, type Fields } from "../../src/log.ts";

/** What one call writes, in the given format, without the timestamp. */
function written(format: "json" | "pretty", msg: string, fields?: Fields): string[] {
  const out: string[] = [];
  createLogger("debug", format, (l) => out.push(l)).info(msg, fields);
  return out.join("").split("\n").slice(0, -1);
}

const pretty = (msg: string, fields?: Fields) => written("pretty", msg, fields).map((l) => l.replace(/^\S+ /, ""));

describe("log.format: pretty", () => {
  test("a sub with a newline cannot forge a line", () => {
    const forged = "alice\n2030-01-01T00:00:00.000Z INFO  connection closed uid=admin code=1000";
    const lines = pretty("connection closed", { uid: forged, code: 4409 });
    expect(lines).toEqual([
      'INFO  connection closed uid="alice\\n2030-01-01T00:00:00.000Z INFO  connection closed uid=admin code=1000" code=4409',
    ]);
  });

  test("every control character is escaped, as JSON escapes it, and those JSON leaves too", () => {
    const [line] = pretty("m", {
      a: "x\r\ty",
      esc: "\u001b[31mred",
      nul: "\u0000",
      del: "\u007f",
      csi: "\u009b2J",
      ls: "\u2028",
    });
    expect(line).toBe(
      'INFO  m a="x\\r\\ty" esc="\\u001b[31mred" nul="\\u0000" del="\\u007f" csi="\\u009b2J" ls="\\u2028"',
    );
    expect(line).not.toMatch(/[\p{Cc}\u2028\u2029]/u);
  });

  test("a value that could pass for other fields is quoted", () => {
    expect(pretty("m", { uid: "bob code=1000", reason: 'say "hi"', path: "a\\b", empty: "" })).toEqual([
      'INFO  m uid="bob code=1000" reason="say \\"hi\\"" path="a\\\\b" empty=""',
    ]);
  });

  test("plain values stay bare, numbers and objects are JSON, missing ones are left out", () => {
    expect(pretty("connection closed", { uid: "alice", rid: undefined, code: 4409, tags: ["a", "b"] })).toEqual([
      'INFO  connection closed uid=alice code=4409 tags=["a","b"]',
    ]);
  });

  test("the message is escaped too", () => {
    expect(pretty("bad\nline")).toEqual(["INFO  bad\\nline"]);
  });
});

describe("log.format: json", () => {
  test("a sub with a newline stays inside its line", () => {
    const lines = written("json", "connection closed", { uid: "alice\nforged" });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ msg: "connection closed", uid: "alice\nforged" });
  });
});

describe("log.level", () => {
  test("setLevel takes effect on the next line, for every holder of the logger", () => {
    const out: string[] = [];
    const log = createLogger("info", "json", (l) => out.push(l));
    log.debug("hidden");
    log.setLevel("debug");
    expect(log.enabled("debug")).toBe(true);
    log.debug("shown");
    log.setLevel("error");
    log.warn("hidden too");
    expect(out.map((l) => JSON.parse(l).msg)).toEqual(["shown"]);
  });
});
