/** The revocation table's rules, and the retained message's topic and signature: pure, no server. */
import { describe, expect, test } from "bun:test";
import { RevocationTable } from "../../src/auth/revocations.ts";
import {
  encodeRevocation,
  parseRevocation,
  revocationPrefix,
  revocationTopic,
} from "../../src/bridge/cluster/revocations.ts";
import { listSignatureValid } from "../../src/util/signature.ts";

describe("RevocationTable", () => {
  test("a token issued at or before the revocation is refused, one after is not, one without iat is", () => {
    let now = 1_000_000;
    const t = new RevocationTable(60_000, () => now);
    expect(t.revoked("u", 1)).toBe(false);
    const r = t.revoke("u");
    expect(r).toEqual({ uid: "u", at: 1_000_000, expires: 1_060_000 });
    expect(t.revoked("u", 999_000)).toBe(true);
    expect(t.revoked("u", 1_000_000)).toBe(true);
    expect(t.revoked("u", 1_000_001)).toBe(false);
    expect(t.revoked("u", undefined)).toBe(true);
    expect(t.revoked("v", undefined)).toBe(false);
    now = 1_060_000;
    expect(t.revoked("u", undefined)).toBe(false);
    expect(t.list()).toEqual([]);
  });

  test("a draft is not kept until keep, which tells onRevoke's listeners as revoke does", () => {
    const t = new RevocationTable(60_000, () => 7_000);
    const heard: string[] = [];
    t.onRevoke((r) => heard.push(r.uid));
    const r = t.draft("u");
    expect(r).toEqual({ uid: "u", at: 7_000, expires: 67_000 });
    expect(t.revoked("u", undefined)).toBe(false);
    expect(heard).toEqual([]);
    expect(t.keep(r)).toBe(r);
    expect(t.revoked("u", undefined)).toBe(true);
    expect(heard).toEqual(["u"]);
  });

  test("of two revocations of a uid the later one is kept; an expired one is not added", () => {
    const now = 5_000;
    const t = new RevocationTable(1000, () => now);
    expect(t.add({ uid: "u", at: 4000, expires: 9000 })).toBe(true);
    expect(t.add({ uid: "u", at: 3000, expires: 99_000 })).toBe(false);
    expect(t.add({ uid: "u", at: 4000, expires: 8000 })).toBe(false);
    expect(t.add({ uid: "u", at: 4500, expires: 6000 })).toBe(true);
    expect(t.add({ uid: "w", at: 1000, expires: 5000 })).toBe(false);
    expect(t.list()).toEqual([{ uid: "u", at: 4500, expires: 6000 }]);
  });

  test("revoke tells its listeners, add does not; a lapse is told once, whichever call meets it", () => {
    let now = 0;
    const t = new RevocationTable(100, () => now);
    const made: string[] = [];
    const lapsed: string[] = [];
    t.onRevoke((r) => made.push(r.uid));
    t.onLapse((r) => lapsed.push(r.uid));
    t.revoke("a");
    t.add({ uid: "b", at: 0, expires: 50 });
    expect(made).toEqual(["a"]);
    now = 60;
    t.sweep();
    expect(lapsed).toEqual(["b"]);
    now = 100;
    expect(t.revoked("a", undefined)).toBe(false);
    t.sweep();
    expect(lapsed).toEqual(["b", "a"]);
    expect(t.size).toBe(0);
  });

  test("listed by uid in UTF-8 byte order", () => {
    const t = new RevocationTable(1000, () => 0);
    for (const uid of ["\u{1F600}", "\uFF5E", "b", "a"]) t.revoke(uid);
    expect(t.list().map((r) => r.uid)).toEqual(["a", "b", "\uFF5E", "\u{1F600}"]);
  });
});

describe("the retained revocation", () => {
  test("its topic is <namespace>/revoked/<uid>, the uid one level; a uid no topic may hold is written in hex", () => {
    expect(revocationTopic("io.goeasy", "alice")).toBe("io.goeasy/revoked/alice");
    expect(revocationTopic("io.goeasy", "a/b+#%")).toBe("io.goeasy/revoked/a%2Fb%2B%23%25");
    expect(revocationTopic("io.goeasy", "a\nb")).toBe("io.goeasy/revoked/%u0061000a0062");
    expect(revocationTopic("io.goeasy", "%u0061000a0062")).toBe("io.goeasy/revoked/%25u0061000a0062");
    expect(revocationPrefix("https://id.example/+#")).toBe("https://id.example/__/revoked/");
  });

  test("signed over its fields: the payload read back carries a signature that checks", () => {
    const key = "k".repeat(32);
    const r = { uid: "u", at: 1, expires: 2 };
    const read = parseRevocation(Buffer.from(encodeRevocation(r, key)));
    expect(read && listSignatureValid(key, ["revoked", "u", "1", "2"], read.sig)).toBe(true);
    expect(parseRevocation(Buffer.from(encodeRevocation(r)))?.sig).toBeUndefined();
    for (const bad of ["", "[]", '{"uid":"","at":1,"expires":2}', '{"uid":"u","at":"1","expires":2}']) {
      expect(parseRevocation(Buffer.from(bad))).toBeUndefined();
    }
  });
});
