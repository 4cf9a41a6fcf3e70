/**
 * Replays on a shared broker with mqtt.cluster_key: a reader of the broker holds signed messages
 * and may publish them again later. None may bring back what has ended. Real Mosquitto (or aedes),
 * instances in this process (or Deno processes).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN, connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const KEY = "a-cluster-key-shared-by-the-instances";
let broker: TestBroker;
let a: Comet;
let obs: Observer;

beforeAll(async () => {
  broker = await TestBroker.start();
  a = await startComet(`mqtt: {url: "${broker.url}", cluster_key: "${KEY}", forward_api: true}`);
  await waitReadyz(a, 200);
  obs = await Observer.connect(broker.url, ["comet/servers/#"]);
});

afterAll(async () => {
  await obs?.close();
  await a?.stop();
  await broker?.stop();
});

const live = () => metric(a, "comet_cluster_servers");
const statuses = (outcome: string) => metric(a, "comet_bridge_server_status_in_total", { outcome });

async function dump(): Promise<{ ms: number; body: { unanswered?: string[] } }> {
  const t0 = Date.now();
  const res = await fetch(`${a.url}/comet/Comet/DumpSession`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
  });
  return { ms: Date.now() - t0, body: (await res.json()) as { unanswered?: string[] } };
}

test("a signed online replayed after its instance stopped is stale: the live count stays, DumpSession does not wait for it", async () => {
  const d = await startComet(`mqtt: {url: "${broker.url}", cluster_key: "${KEY}"}`);
  const id = d.bridge!.id;
  const topic = `comet/servers/${id}`;
  let online: string | undefined;
  try {
    await waitReadyz(d, 200);
    await waitFor(async () => (await live()) === 2, "A to see D");
    await obs.until(() => obs.messages.some((m) => m.topic === topic && m.text.includes('"online"')), "D's online");
    online = obs.messages.find((m) => m.topic === topic && m.text.includes('"online"'))?.text as string;
  } finally {
    await d.stop();
  }
  await waitFor(async () => (await live()) === 1, "A to drop D");
  const stale = await statuses("stale");
  await obs.publish(topic, online);
  await waitFor(async () => (await statuses("stale")) === stale + 1, "A to count the replay as stale");
  expect(await live()).toBe(1);
  // Clearing the retained status (which cannot be signed) must not make A forget that D ended.
  await obs.client.publishAsync(topic, "", { qos: 1, retain: true });
  await waitFor(async () => (await statuses("cleared")) >= 1, "A to read the clearing");
  await obs.publish(topic, online);
  await waitFor(async () => (await statuses("stale")) === stale + 2, "A to count the second replay as stale");
  expect(await live()).toBe(1);
  const { ms, body } = await dump();
  expect(body.unanswered).toBeUndefined();
  expect(ms).toBeLessThan(1000);
});

async function online(uid: string): Promise<unknown[]> {
  const res = await fetch(`${a.url}/comet/Comet/Presence`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ uids: [uid] }),
  });
  return ((await res.json()) as { online: unknown[] }).online;
}

test("a signed presence view replayed after its user left is stale: the user stays offline", async () => {
  const b = await startComet(`mqtt: {url: "${broker.url}", cluster_key: "${KEY}"}`);
  try {
    await waitReadyz(b, 200);
    const topic = `comet/servers/${b.bridge!.id}/view`;
    const user = await connect(b, "rp-view");
    await waitFor(async () => (await online("rp-view")).length === 1, "A to see rp-view online");
    // An instance that joins makes every instance publish its view: B's then holds rp-view.
    const c = await startComet(`mqtt: {url: "${broker.url}", cluster_key: "${KEY}"}`);
    await c.stop();
    await obs.until(() => obs.messages.some((m) => m.topic === topic && m.text.includes('"rp-view"')), "B's view");
    const view = obs.messages.find((m) => m.topic === topic && m.text.includes('"rp-view"'))?.text as string;
    user.close();
    await waitFor(async () => (await online("rp-view")).length === 0, "A to see rp-view offline");
    const stale = await metric(a, "comet_bridge_views_in_total", { outcome: "stale" });
    await obs.publish(topic, view);
    await waitFor(
      async () => (await metric(a, "comet_bridge_views_in_total", { outcome: "stale" })) === stale + 1,
      "A to count the replayed view as stale",
    );
    expect(await online("rp-view")).toEqual([]);
  } finally {
    await b.stop();
  }
});
