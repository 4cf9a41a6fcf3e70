/**
 * Disconnect across a cluster (mqtt.forward_api) on a real broker: the session on the other
 * instance is closed 4410 and counted in the answer; a forged request (no valid cluster_key
 * signature) published by a plain MQTT client closes nothing and is counted.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encodeStatus } from "../../src/bridge/cluster/servers.ts";
import { listSignature } from "../../src/util/signature.ts";
import { api, connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const KEY = "cluster-key-for-the-disconnect-tests-0123456789";
let broker: TestBroker;
let a: Comet;
let b: Comet;

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "${broker.url}", forward_api: true, cluster_key: "${KEY}"}`;
  [a, b] = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  // Each knows the other is live: a Disconnect waits for the instances it believes online.
  await waitFor(async () => (await metric(a, "comet_cluster_servers")) === 2, "a sees b");
  await waitFor(async () => (await metric(b, "comet_cluster_servers")) === 2, "b sees a");
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await broker?.stop();
});

test("a Disconnect on one instance closes the session on the other, 4410 with the reason; disconnected counts it", async () => {
  const c = await connect(b, "cd-far");
  const r = await api(a, "Disconnect", { uid: "cd-far", reason: "closed from a" });
  expect([r.status, r.json]).toEqual([200, { disconnected: 1 }]);
  expect(await c.waitClose(5000)).toEqual({ code: 4410, reason: "closed from a" });
  // Nobody anywhere: every instance answers 0, and the answer does not wait for the timeout.
  const started = Date.now();
  expect((await api(a, "Disconnect", { uid: "cd-far" })).json).toEqual({ disconnected: 0 });
  expect(Date.now() - started).toBeLessThan(1500);
  expect(await metric(b, "comet_bridge_disconnects_in_total", { kind: "request", outcome: "done" })).toBe(2);
});

test("the instance asked closes its own session too, and leaves other uids alone", async () => {
  const here = await connect(a, "cd-here");
  const there = await connect(b, "cd-there");
  expect((await api(b, "Disconnect", { uid: "cd-here" })).json).toEqual({ disconnected: 1 });
  expect((await here.waitClose()).code).toBe(4410);
  expect(b.hub.sessions.has("cd-there")).toBe(true);
  there.close();
});

test("a forged request, unsigned or signed with another key, closes nothing and is counted", async () => {
  const c = await connect(b, "cd-victim");
  const mqtt = await Observer.connect(broker.url, []);
  try {
    const time = (BigInt(Date.now()) * 1_000_000n).toString();
    const forged = { id: "forged-1", origin: "forger", uid: "cd-victim", reason: "gotcha", time };
    await mqtt.publish("comet/servers/forger/disconnect", JSON.stringify(forged));
    const fields = ["disconnect", "forged-2", "forger", "cd-victim", "gotcha", time, ""];
    const sig = listSignature("another-key-that-is-long-enough-0123456789", fields);
    await mqtt.publish("comet/servers/forger/disconnect", JSON.stringify({ ...forged, id: "forged-2", sig }));
    const unsigned = () => metric(b, "comet_bridge_disconnects_in_total", { kind: "request", outcome: "unsigned" });
    await waitFor(async () => (await unsigned()) === 2, "two forged requests counted");
    expect(b.hub.sessions.has("cd-victim")).toBe(true);
    expect(c.closeInfo).toBeUndefined();
    expect(await metric(b, "comet_bridge_activity_in_total", { outcome: "unsigned" })).toBeGreaterThanOrEqual(2);
  } finally {
    await mqtt.close();
    c.close();
  }
});

test("an instance believed live that does not answer is named in unanswered after 2 s", async () => {
  // A status signed with the cluster key: a and b take "ghost" for a live instance, which never answers.
  const mqtt = await Observer.connect(broker.url, []);
  const time = (BigInt(Date.now()) * 1_000_000n).toString();
  const status = (type: "online" | "offline") => encodeStatus(type, "ghost", time, KEY);
  try {
    await mqtt.client.publishAsync("comet/servers/ghost", status("online"), { qos: 1, retain: true });
    await waitFor(async () => (await metric(a, "comet_cluster_servers")) === 3, "a sees the ghost");
    const c = await connect(b, "cd-ghost");
    const started = Date.now();
    const r = await api(a, "Disconnect", { uid: "cd-ghost" });
    expect(r.json).toEqual({ disconnected: 1, unanswered: ["ghost"] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
    expect((await c.waitClose()).code).toBe(4410);
  } finally {
    await mqtt.client.publishAsync("comet/servers/ghost", status("offline"), { qos: 1, retain: true });
    await mqtt.client.publishAsync("comet/servers/ghost", "", { qos: 1, retain: true });
    await mqtt.close();
  }
});
