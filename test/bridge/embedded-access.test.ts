/**
 * The embedded broker's clients: instances (mqtt.username / password) do everything; backends
 * (mqtt.embedded.publishers) publish Events and read activity; nobody else gets in.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connectAsync, type MqttClient } from "mqtt";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { connect } from "../helpers.ts";
import { type Comet, closedBy, forgedOnline, Observer, startComet, waitReadyz } from "./util.ts";

const INSTANCE = { username: "comet", password: "instance-secret-0123456789" };
const BILLING = { username: "billing", password: "billing-secret-0123456789" };
const ACCOUNTS = `username: ${INSTANCE.username}, password: ${INSTANCE.password}`;

let server: Comet;
let url: string;
const clients: MqttClient[] = [];

async function client(opts: { username?: string; password?: string } = {}): Promise<MqttClient> {
  const c = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
  // A refused publish ends the connection: that is what these tests wait for, not an error.
  c.on("error", () => {});
  clients.push(c);
  return c;
}

beforeAll(async () => {
  server = await startComet(
    `mqtt: {${ACCOUNTS}, embedded: {listen: "127.0.0.1:0", publishers: [{username: ${BILLING.username}, password: ${BILLING.password}}]}}`,
  );
  url = server.bridge!.embedded!.url;
  await waitReadyz(server, 200);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true)));
  await server?.stop();
});

test("a backend's Event reaches a user and it reads activity, but its forged ONLINE is refused and kicks nobody", async () => {
  const obs = await Observer.connect(url, ["comet/user-activity"], BILLING);
  const vic = await connect(server, "vic");
  await obs.until(() => obs.story("vic").includes("ONLINE"), "vic's ONLINE, read by the backend");
  const backend = await client(BILLING);
  await backend.publishAsync("comet/events", JSON.stringify({ uid: "vic", evt: "from billing" }));
  expect(await vic.waitPushes(1)).toEqual(["from billing"]);

  const closed = closedBy(backend);
  backend.publish("comet/user-activity", forgedOnline("vic"));
  await closed;
  // Had the broker passed it on, the bridge would have closed vic 4409 before this Event arrived.
  await sendEvent(url, "comet/events", { uid: "vic", evt: "still here" }, BILLING);
  expect(await vic.waitPushes(2)).toEqual(["from billing", "still here"]);
  expect(vic.closeInfo).toBeUndefined();
  expect(server.hub.sessions.has("vic")).toBe(true);
  expect(obs.messages.filter((m) => m.text.includes("forger"))).toEqual([]);

  // The same message from the instances' account is believed: the check above would have seen a kick.
  const instance = await client(INSTANCE);
  await instance.publishAsync("comet/user-activity", forgedOnline("vic"));
  expect((await vic.waitClose()).code).toBe(4409);
  await obs.close();
});

test("a backend may subscribe to the activity and presence topics only, and publish on the events topics only", async () => {
  const backend = await client(BILLING);
  for (const topic of ["comet/events", "#", "comet/+", "$SYS/#", "comet/user-activity/#", "comet/servers/+"]) {
    await expect(backend.subscribeAsync(topic)).rejects.toThrow("Subscribe error");
  }
  expect(backend.connected).toBe(true);
  expect((await backend.subscribeAsync("comet/user-activity"))[0]?.qos).toBe(0);
  expect((await backend.subscribeAsync("comet/presence"))[0]?.qos).toBe(0);
  // QoS 1: the PUBACK says the broker took it.
  await backend.publishAsync("comet/events/billing", JSON.stringify({ evt: "routed" }), { qos: 1 });
  const closed = closedBy(backend);
  backend.publish("comet/other", "x");
  await closed;
});

test("anonymous clients, wrong passwords and a backend's name with the instances' password are refused", async () => {
  for (const opts of [
    {},
    { username: INSTANCE.username, password: "wrong" },
    { username: BILLING.username, password: INSTANCE.password },
    { username: "nobody", password: BILLING.password },
  ]) {
    await expect(connectAsync(url, { reconnectPeriod: 0, ...opts })).rejects.toThrow(/not authori[sz]ed/i);
  }
});

test("a backend's retained Event is not kept for later subscribers", async () => {
  const backend = await client(BILLING);
  await backend.publishAsync("comet/events", JSON.stringify({ uid: "nobody-here", evt: "kept?" }), {
    qos: 1,
    retain: true,
  });
  const later = await Observer.connect(url, ["comet/events"], INSTANCE);
  await Bun.sleep(300);
  expect(later.messages).toEqual([]);
  await later.close();
});

test("another instance with the instances' account joins: Events reach it, its activity goes out", async () => {
  const obs = await Observer.connect(url, ["comet/user-activity"], BILLING);
  const other = await startComet(`mqtt: {url: "${url}", ${ACCOUNTS}}`);
  try {
    await waitReadyz(other, 200);
    const ben = await connect(other, "ben", { rid: "hall" });
    await sendEvent(url, "comet/events", { rid: "hall", evt: "to the hall" }, BILLING);
    expect(await ben.waitPushes(1)).toEqual(["to the hall"]);
    await obs.until(() => obs.story("ben").length >= 2, "ben's activity");
    expect(obs.story("ben").slice(0, 2)).toEqual(["ONLINE", "ENTER_ROOM hall"]);
    ben.close();
  } finally {
    await other.stop();
    await obs.close();
  }
});
