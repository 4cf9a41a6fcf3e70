import { describe, expect, test } from "bun:test";
import { encodeActivity, parseActivity } from "../../src/bridge/wire/event.ts";
import { activitySignature, signatureValid } from "../../src/util/signature.ts";

const KEY = "cluster-key-for-tests";
const fields = { type: "ONLINE", uid: "alice", rid: "", time: "1732290000123456000", server: "host-1" };

describe("activity signatures (mqtt.cluster_key)", () => {
  test("encoded activity carries a signature that verifies after the round trip through JSON", () => {
    const text = encodeActivity({ type: "ONLINE", uid: "alice", rid: "", time: fields.time }, "host-1", KEY);
    const a = parseActivity(new TextEncoder().encode(text));
    expect(a?.sig).toBe(activitySignature(KEY, fields));
    expect(signatureValid(KEY, fields, a?.sig)).toBe(true);
  });

  test("without a key nothing is added: the payload is the activity of before", () => {
    const text = encodeActivity({ type: "ONLINE", uid: "alice", rid: "", time: fields.time }, "host-1");
    expect(JSON.parse(text)).toEqual(fields);
  });

  test.each([
    ["type", { type: "OFFLINE" }],
    ["uid", { uid: "mallory" }],
    ["rid", { rid: "lobby" }],
    ["time", { time: "1732290000123456001" }],
    ["server", { server: "host-2" }],
  ])("a changed %s no longer verifies", (_, change) => {
    const sig = activitySignature(KEY, fields);
    expect(signatureValid(KEY, { ...fields, ...change }, sig)).toBe(false);
  });

  test("a missing, malformed or other key's signature does not verify", () => {
    expect(signatureValid(KEY, fields, undefined)).toBe(false);
    expect(signatureValid(KEY, fields, "zz")).toBe(false);
    expect(signatureValid(KEY, fields, "g".repeat(64))).toBe(false);
    expect(signatureValid(KEY, fields, activitySignature("another-key", fields))).toBe(false);
  });

  test("fields are not confused across their boundaries", () => {
    const a = { ...fields, uid: "a", rid: "b" };
    const b = { ...fields, uid: 'a","b', rid: "" };
    expect(activitySignature(KEY, a)).not.toBe(activitySignature(KEY, b));
  });
});
