/** The replacement rule alone: which of two sessions of one uid, on two instances, survives. */
import { describe, expect, test } from "bun:test";
import { decideReplacement, judgeRemoteActivity } from "../../src/bridge/cluster/cluster-rule.ts";
import { ACTIVITY_NAMES } from "../../src/hub/activity.ts";

const T = 1_700_000_000_000_000_000n;
const here = (onlineNs: bigint, server = "b-instance") => ({ onlineNs, server });
const there = (time: bigint, server = "a-instance") => ({ time, server });

describe("decideReplacement", () => {
  test("a newer remote ONLINE replaces, even one nanosecond newer from a smaller server id", () => {
    expect(decideReplacement(here(T), there(T + 1n))).toBe("replace");
    expect(decideReplacement(here(T, "zz"), there(T + 1n, "aa"))).toBe("replace");
    expect(decideReplacement(here(T), there(T + 60_000_000_000n))).toBe("replace");
  });

  test("an older remote ONLINE is kept out, even from a larger server id", () => {
    expect(decideReplacement(here(T), there(T - 1n))).toBe("keep");
    expect(decideReplacement(here(T, "aa"), there(T - 1n, "zz"))).toBe("keep");
    expect(decideReplacement(here(T), there(0n))).toBe("keep");
  });

  test("equal times: the larger server id wins, whichever side holds it", () => {
    expect(decideReplacement(here(T, "a"), there(T, "b"))).toBe("replace");
    expect(decideReplacement(here(T, "b"), there(T, "a"))).toBe("keep");
    expect(decideReplacement(here(T, "host-1"), there(T, "host-1~"))).toBe("replace");
    expect(decideReplacement(here(T, "host-1~"), there(T, "host-1"))).toBe("keep");
    expect(decideReplacement(here(T, "x"), there(T, ""))).toBe("keep");
  });

  test("server ids compare in UTF-8 byte order, not JavaScript's UTF-16 order", () => {
    // U+10000 is a surrogate pair, below U+FFFF in UTF-16 units but above it in UTF-8 bytes.
    expect(decideReplacement(here(T, "\uffff"), there(T, "\u{10000}"))).toBe("replace");
    expect(decideReplacement(here(T, "\u{10000}"), there(T, "\uffff"))).toBe("keep");
  });

  test("its own server id never replaces, however new", () => {
    expect(decideReplacement(here(T, "me"), there(T + 1_000_000_000n, "me"))).toBe("keep");
    expect(decideReplacement(here(T, "me"), there(T, "me"))).toBe("keep");
  });

  test("of two instances that compare the same two ONLINEs, exactly one session survives", () => {
    const ids = ["", "a", "b", "host-1", "host-1~", "\uffff", "\u{10000}", "é"];
    const times = [T - 1n, T, T + 1n];
    for (const a of ids)
      for (const b of ids) {
        if (a === b) continue;
        for (const ta of times)
          for (const tb of times) {
            const onB = decideReplacement(here(tb, b), there(ta, a));
            const onA = decideReplacement(here(ta, a), there(tb, b));
            expect([onA, onB].filter((d) => d === "replace").length).toBe(1);
          }
      }
  });
});

describe("judgeRemoteActivity", () => {
  const online = (time: bigint, server: string) => ({ type: "ONLINE" as const, time, server });

  test("another instance's ONLINE for a uid held here is kept or replaces, by the rule", () => {
    expect(judgeRemoteActivity(online(T + 1n, "other"), "me", T)).toBe("replaced");
    expect(judgeRemoteActivity(online(T - 1n, "other"), "me", T)).toBe("kept");
    expect(judgeRemoteActivity(online(T, "zz"), "me", T)).toBe("replaced");
    expect(judgeRemoteActivity(online(T, "aa"), "me", T)).toBe("kept");
  });

  test("its own activity is counted as own, however new", () => {
    for (const type of ACTIVITY_NAMES)
      expect(judgeRemoteActivity({ type, time: T + 1_000_000_000n, server: "me" }, "me", T)).toBe("own");
    expect(judgeRemoteActivity(online(T, "me"), "me", undefined)).toBe("own");
  });

  test("activity other than ONLINE never replaces, however new", () => {
    for (const type of ACTIVITY_NAMES.filter((t) => t !== "ONLINE"))
      expect(judgeRemoteActivity({ type, time: T + 1_000_000_000n, server: "other" }, "me", T)).toBe("ignored");
  });

  test("an ONLINE for a uid with no session here is ignored", () => {
    expect(judgeRemoteActivity(online(T + 1n, "other"), "me", undefined)).toBe("ignored");
  });
});
