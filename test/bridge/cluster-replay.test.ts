/**
 * Replays and forgeries on a shared broker with mqtt.cluster_key: a reader of the broker holds
 * signed messages and may publish them again later, and anyone who may publish there may make up
 * more. None may bring back what has ended, nor make an instance send its sessions to anyone.
 * Real Mosquitto (or aedes), instances in this process (or Deno processes).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { ADMIN, connect } from "../helpers.ts";
import { encodeStatus } from "../../src/bridge/cluster/servers.ts";
import { listSignature } from "../../src/util/signature.ts";
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
    try {
      await obs.until(() => obs.messages.some((m) => m.topic === topic && m.text.includes('"rp-view"')), "B's view");
    } finally {
      await c.stop();
    }
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

test("cluster DumpSession: requests and answers are signed; a forged or replayed request is answered by no one, a forged answer adds no one", async () => {
  const b = await startComet(`mqtt: {url: "${broker.url}", cluster_key: "${KEY}"}`);
  const user = await connect(b, "rp-dump");
  const aId = a.bridge!.id;
  const dumps = (kind: string, outcome: string) => metric(b, "comet_bridge_dumps_in_total", { kind, outcome });
  const answersTo = (topic: string) => obs.messages.filter((m) => m.topic === topic);
  try {
    await waitReadyz(b, 200);
    await waitFor(async () => (await live()) === 2, "A to see B");
    const first = await dump();
    expect(JSON.stringify(first.body)).toContain('"rp-dump"');
    const request = obs.messages.find((m) => m.topic === `comet/servers/${aId}/dump`)?.text as string;
    const sent = JSON.parse(request) as Record<string, unknown>;
    expect(Object.keys(sent)).toEqual(["id", "origin", "transport", "time", "sig"]);
    const answer = JSON.parse(answersTo(`comet/servers/${aId}/answers`)[0]!.text) as Record<string, unknown>;
    expect(answer.sig).toMatch(/^[0-9a-f]{64}$/);

    // Forged: unsigned, or signed with another key, asking for the answers on the forger's topic.
    const unsigned = await metric(b, "comet_bridge_activity_in_total", { outcome: "unsigned" });
    const forged = { id: "forged-1", origin: "evil", transport: true, time: String(BigInt(Date.now()) * 1_000_000n) };
    await obs.publish("comet/servers/evil/dump", JSON.stringify(forged));
    const wrong = listSignature("a-guessed-key-that-is-long-enough-too", [
      "dump",
      "forged-2",
      "evil",
      "transport",
      forged.time,
    ]);
    await obs.publish("comet/servers/evil/dump", JSON.stringify({ ...forged, id: "forged-2", sig: wrong }));
    // A's request replayed: B answered that id already.
    const answered = answersTo(`comet/servers/${aId}/answers`).length;
    await obs.publish(`comet/servers/${aId}/dump`, request);
    await waitFor(async () => (await dumps("request", "unsigned")) === 2, "B to count two unsigned requests");
    await waitFor(async () => (await dumps("request", "stale")) === 1, "B to count the replay as stale");
    expect(await metric(b, "comet_bridge_activity_in_total", { outcome: "unsigned" })).toBe(unsigned + 2);
    await Bun.sleep(100);
    expect(answersTo("comet/servers/evil/answers")).toEqual([]);
    expect(answersTo(`comet/servers/${aId}/answers`)).toHaveLength(answered);

    // An instance that never answers keeps A's DumpSession open for its 2 s: time to forge an answer.
    const ghost = "zz-ghost";
    const time = String(BigInt(Date.now()) * 1_000_000n);
    await obs.publish(`comet/servers/${ghost}`, encodeStatus("online", ghost, time, KEY));
    await waitFor(async () => (await live()) === 3, "A to take the ghost for live");
    const pending = dump();
    // Besides the first and its replay (the observer hears its own publish too): the new one.
    const fresh = () =>
      obs.messages
        .filter((m) => m.topic === `comet/servers/${aId}/dump`)
        .map((m) => (JSON.parse(m.text) as { id: string }).id)
        .find((x) => x !== sent.id);
    await obs.until(() => fresh() !== undefined, "A's second request");
    const id = fresh() as string;
    const fake = { uid: "rp-forged", rid: "", birth: "2026-01-01T00:00:00.000Z" };
    await obs.publish(
      `comet/servers/${aId}/answers`,
      JSON.stringify({ id, server: ghost, parts: 1, part: 0, sessions: [fake], sig: "0".repeat(64) }),
    );
    const { body } = await pending;
    expect(body.unanswered).toEqual([ghost]);
    expect(JSON.stringify(body)).toContain('"rp-dump"');
    expect(JSON.stringify(body)).not.toContain("rp-forged");
    expect(await metric(a, "comet_bridge_dumps_in_total", { kind: "answer", outcome: "unsigned" })).toBe(1);
    await obs.publish(`comet/servers/${ghost}`, encodeStatus("offline", ghost, time, KEY));
    await waitFor(async () => (await live()) === 2, "A to drop the ghost");
  } finally {
    user.close();
    await b.stop();
  }
}, 15_000);
