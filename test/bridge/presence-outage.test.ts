/**
 * No ghosts after a broker outage: an instance that dies while the broker is down never gets its
 * Last Will sent; when the broker is back, the survivors must still drop it (it does not announce
 * itself again) and send its users' OFFLINE after the grace. Real Mosquitto, restarted on its port.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { logLines, type Serving, serveProcess } from "../cli/serving.ts";
import { ADMIN, Client, SECRET, token } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let broker: TestBroker;
let a: Comet;
let c: Serving;

beforeAll(async () => {
  broker = await TestBroker.start();
  a = await startComet(`mqtt: {url: "${broker.url}"}\npresence: {offline_grace: 500ms}`);
  c = await serveProcess(["--listen", "127.0.0.1:0"], {
    COMET_MQTT_URL: broker.url,
    COMET_AUTH_JWT_HS256_SECRET: SECRET,
    COMET_ADMIN_TOKENS: ADMIN,
  });
  await waitReadyz(a, 200);
});

afterAll(async () => {
  c?.proc.kill("SIGKILL");
  await a?.stop();
  await broker?.stop();
});

async function online(s: { url: string }, uids: string[]): Promise<string[]> {
  const res = await fetch(`${s.url}/comet/Comet/Presence`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ uids }),
  });
  return ((await res.json()) as { online: Array<{ uid: string }> }).online.map((o) => o.uid);
}

test("an instance killed while the broker was away is dropped once the broker is back, and its users get their OFFLINE", async () => {
  const uids = ["o-1", "o-2", "o-3"];
  const clients = await Promise.all(
    uids.map(async (uid) => {
      const cl = new Client(`ws://127.0.0.1:${c.port}/comet/Comet/Subscribe`);
      await cl.opened;
      cl.send({ t: "AUTH", auth: { token: await token(uid) } });
      return cl;
    }),
  );
  await waitFor(async () => (await online(a, uids)).length === 3, "A to see C's users");
  expect(await metric(a, "comet_cluster_servers")).toBe(2);

  await broker.kill();
  c.proc.kill("SIGKILL");
  await Promise.all(clients.map((cl) => cl.closed));
  await broker.restart();
  const obs = await Observer.connect(broker.url, ["comet/presence"]);
  try {
    // No will came (the broker was down when C died): A learns it from C's silence after the resync.
    await waitFor(async () => (await metric(a, "comet_cluster_servers")) === 1, "A to drop C", 15_000);
    expect(logLines(c).some((l) => l.msg === "mqtt bridge starting")).toBe(true);
    await obs.until(
      () => uids.every((u) => obs.messages.some((m) => m.text.includes(`"OFFLINE","uid":"${u}"`))),
      "C's users' OFFLINE",
      5000,
    );
    expect(await online(a, uids)).toEqual([]);
    const offline = obs.messages.map((m) => JSON.parse(m.text) as { type: string; uid: string; server: string });
    const sent = offline.filter((t) => t.type === "OFFLINE").map((t) => [t.uid, t.server]);
    expect(sent.sort()).toEqual(uids.map((u) => [u, a.bridge!.id]));
  } finally {
    await obs.close();
  }
}, 40_000);
