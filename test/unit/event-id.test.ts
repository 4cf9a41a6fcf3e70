import { describe, expect, test } from "bun:test";
import { encodeEventId, parseEventId } from "../../src/protocol/event-id.ts";

describe("SSE event ids", () => {
  test("hold the three positions and read back as a recover", () => {
    const p = {
      u: { epoch: "abc1", seq: 0 },
      r: { epoch: "abc2", seq: 17 },
      w: { epoch: "abc3", seq: 9007199254740991 },
    };
    const id = encodeEventId(p);
    expect(id).toBe("u:abc1:0,r:abc2:17,w:abc3:9007199254740991");
    expect(parseEventId(id)).toEqual(p);
    expect(parseEventId(encodeEventId({ u: p.u, w: p.w }))).toEqual({ u: p.u, w: p.w });
  });

  test("an epoch holding what SSE or the id's own syntax would cut survives", () => {
    const epoch = "a,b:c\nd\re\u0000f é 😀 %";
    const id = encodeEventId({ u: { epoch, seq: 3 } });
    for (const c of ["\n", "\r", "\u0000", ","]) expect(id.split(":")[1]).not.toContain(c);
    expect(parseEventId(id)).toEqual({ u: { epoch, seq: 3 } });
  });

  test("anything else is not an id of this server", () => {
    for (const bad of [
      "",
      "u",
      "u:e",
      "u:e:",
      "u:e:-1",
      "u:e:1.5",
      "u:e:12345678901234567", // 17 digits
      "u:e:99999999999999999999",
      "x:e:1",
      "u:e:1,u:e:2", // twice
      "u:e:1,",
      "u:e:1;w:e:2",
      "u:%E0%A4%A:1", // a broken escape
      "u:a:b:1",
      `u:${"e".repeat(2000)}:1`,
      " u:e:1",
    ]) {
      expect({ bad, parsed: parseEventId(bad) }).toEqual({ bad, parsed: undefined });
    }
  });
});
