/**
 * Revocations across a cluster, on a real broker: refused on every instance, read from the
 * retained messages by an instance that starts before it is ready, a forged one ignored and
 * counted, and one with a short auth.revocation_ttl lapsing (its retained message cleared).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { api, connect, token } from "../helpers.ts";
import { authOutcome, tokenIssuedAt } from "../support/revoked.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const KEY = "cluster-key-for-the-revocation-tests-0123456789";
const REVOKED = "token revoked";
let broker: TestBroker;
let yaml: string;
let a: Comet;
let b: Comet;

/** The tokens of uid issued after now: iat counts whole seconds. */
const after = (uid: string, at: number) => tokenIssuedAt(uid, Math.floor(at / 1000) + 1);

const listed = async (s: Comet): Promise<string[]> =>
  ((await api(s, "Revocations", {})).json.revocations as Array<{ uid: string }>).map((r) => r.uid);

beforeAll(async () => {
  broker = await TestBroker.start();
  yaml = `mqtt: {url: "${broker.url}", forward_api: true, cluster_key: "${KEY}"}`;
  [a, b] = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  await waitFor(async () => (await metric(a, "comet_cluster_servers")) === 2, "a sees b");
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await broker?.stop();
});

test("a revoke on one instance refuses the old token on both (4401 token revoked); a newer token works on both", async () => {
  const old = await token("rc-1");
  const c = await connect(b, "rc-1", { token: old });
  const r = await api(a, "Disconnect", { uid: "rc-1", revoke: true, reason: "compromised" });
  const at = Date.now();
  expect(r.json).toEqual({ disconnected: 1 });
  expect(await c.waitClose(5000)).toEqual({ code: 4410, reason: "compromised" });
  for (const s of [a, b]) expect(await authOutcome(s, "rc-1", old)).toEqual({ code: 4401, reason: REVOKED });
  for (const s of [a, b]) expect(await authOutcome(s, "rc-1", await after("rc-1", at))).toBe("live");
  await waitFor(async () => (await listed(b)).includes("rc-1"), "b lists the revocation");
  expect(await listed(a)).toEqual(["rc-1"]);
});

test("a restarted instance reads the retained revocations before it is ready, and refuses the old token", async () => {
  const old = await token("rc-2");
  expect((await api(b, "Disconnect", { uid: "rc-2", revoke: true })).json).toEqual({ disconnected: 0 });
  await waitFor(async () => (await listed(a)).includes("rc-2"), "a has it");
  await b.stop();
  b = await startComet(yaml);
  await waitReadyz(b, 200);
  // Ready means read: no wait for the broker here.
  expect(await authOutcome(b, "rc-2", old)).toEqual({ code: 4401, reason: REVOKED });
  expect(await listed(b)).toEqual(["rc-1", "rc-2"]);
  expect(await metric(b, "comet_revocations_in_total", { outcome: "kept" })).toBe(2);
  expect(await metric(b, "comet_revocations")).toBe(2);
});

test("a forged revocation (unsigned, or signed with another key) from a plain MQTT client is ignored and counted", async () => {
  const mqtt = await Observer.connect(broker.url, []);
  try {
    const now = Date.now();
    const forged = { uid: "rc-victim", at: now + 60_000, expires: now + 3_600_000 };
    await mqtt.client.publishAsync("io.goeasy/revoked/rc-victim", JSON.stringify(forged), { qos: 1, retain: true });
    await mqtt.client.publishAsync("io.goeasy/revoked/rc-victim2", JSON.stringify({ ...forged, uid: "rc-victim2", sig: "00".repeat(32) }), { qos: 1 });
    const unsigned = () => metric(a, "comet_revocations_in_total", { outcome: "unsigned" });
    await waitFor(async () => (await unsigned()) === 2, "two forged revocations counted");
    expect(await authOutcome(a, "rc-victim", await token("rc-victim"))).toBe("live");
    expect(await listed(a)).not.toContain("rc-victim");
    // An instance that starts reads it too, and ignores it as well.
    const c = await startComet(yaml);
    try {
      await waitReadyz(c, 200);
      expect(await metric(c, "comet_revocations_in_total", { outcome: "unsigned" })).toBe(1);
      expect(await authOutcome(c, "rc-victim", await token("rc-victim"))).toBe("live");
    } finally {
      await c.stop();
    }
  } finally {
    await mqtt.client.publishAsync("io.goeasy/revoked/rc-victim", "", { qos: 1, retain: true });
    await mqtt.close();
  }
});

test("with a short auth.revocation_ttl a revocation lapses: the old token works again and the retained message is cleared", async () => {
  // Without forward_api: the revocation still reaches a and b, as a retained message.
  const e = await startComet(`auth: {revocation_ttl: 1500ms}\n${yaml.replace("forward_api: true", "forward_api: false")}`);
  try {
    await waitReadyz(e, 200);
    const old = await token("rc-3");
    expect((await api(e, "Disconnect", { uid: "rc-3", revoke: true })).json).toEqual({ disconnected: 0 });
    const entries = (await api(e, "Revocations", {})).json.revocations as Array<{ uid: string; at: string; expires: string }>;
    const entry = entries.find((r) => r.uid === "rc-3");
    expect(Date.parse(entry?.expires ?? "") - Date.parse(entry?.at ?? "")).toBe(1500);
    // The retained message reaches the others: a refuses too, with e's expiry.
    await waitFor(async () => (await listed(a)).includes("rc-3"), "a has it");
    expect(await authOutcome(a, "rc-3", old)).toEqual({ code: 4401, reason: REVOKED });
    await Bun.sleep(Math.max(0, Date.parse(entry?.expires ?? "") - Date.now() + 50));
    for (const s of [e, a]) expect(await authOutcome(s, "rc-3", old)).toBe("live");
    expect(await listed(e)).not.toContain("rc-3");
    // Cleared by the live instance with the smallest id once it noticed the lapse (a sweep a second).
    await waitFor(
      async () => {
        const w = await Observer.connect(broker.url, ["io.goeasy/revoked/rc-3"], {}, 1);
        await Bun.sleep(200);
        await w.close();
        return w.messages.length === 0;
      },
      "the retained rc-3 cleared",
      5000,
    );
  } finally {
    await e.stop();
  }
});
