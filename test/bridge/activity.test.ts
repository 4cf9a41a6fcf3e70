/** User activity out to the broker: every type, in the order docs/protocol.md requires, filtered by mqtt.activity. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitReadyz } from "./util.ts";

let broker: TestBroker;
let all: Comet;
let some: Comet;
let qos1: Comet;
let obs: Observer;

beforeAll(async () => {
  broker = await TestBroker.start();
  [all, some, qos1] = await Promise.all([
    startComet(`mqtt: {url: "${broker.url}"}`),
    startComet(`mqtt: {url: "${broker.url}", activity: [ONLINE, OFFLINE]}`),
    startComet(`mqtt: {url: "${broker.url}", qos: 1}`),
  ]);
  await Promise.all([all, some, qos1].map((s) => waitReadyz(s, 200)));
  obs = await Observer.connect(broker.url, ["comet/user-activity"], {}, 2);
});

afterAll(async () => {
  await obs?.close();
  await Promise.all([all?.stop(), some?.stop(), qos1?.stop()]);
  await broker?.stop();
});

test("a client's life goes out in order: ONLINE, rooms, HEARD on every uplink, OFFLINE", async () => {
  const startNs = BigInt(Date.now()) * 1_000_000n;
  const c = await connect(all, "amy", { rid: "lobby" });
  c.send({ t: "HB" });
  c.send({ t: "JOIN", join: { rid: "kitchen" } });
  c.send({ t: "JOIN", join: { rid: "kitchen" } }); // the same room: no room events, still HEARD
  c.close();
  const id = all.bridge!.id;
  await obs.until(() => obs.story("amy", id).includes("OFFLINE"), "amy's OFFLINE");
  expect(obs.story("amy", id)).toEqual([
    "ONLINE",
    "ENTER_ROOM lobby",
    "HEARD lobby",
    "HEARD lobby",
    "LEAVE_ROOM lobby",
    "ENTER_ROOM kitchen",
    "HEARD kitchen",
    "LEAVE_ROOM kitchen",
    "OFFLINE",
  ]);
  const got = obs.activity("amy");
  expect(new Set(got.map((x) => x.server))).toEqual(new Set([id]));
  for (const x of got) expect(x.time).toMatch(/^[1-9]\d{18}$/);
  const times = got.map((x) => BigInt(x.time));
  expect(times).toEqual([...times].sort((p, q) => (p < q ? -1 : p > q ? 1 : 0)));
  expect(times[0]! >= startNs - 1_000_000_000n && times.at(-1)! <= BigInt(Date.now() + 1000) * 1_000_000n).toBe(true);
  expect(Object.keys(JSON.parse(obs.messages.find((m) => m.text.includes('"amy"'))!.text))).toEqual([
    "type",
    "uid",
    "rid",
    "time",
    "server",
  ]);
});

test("a replaced session's LEAVE_ROOM and OFFLINE go out before the new session's ONLINE", async () => {
  const old = await connect(all, "bea", { rid: "den" });
  const fresh = await connect(all, "bea");
  expect((await old.waitClose()).code).toBe(4409);
  fresh.close();
  const id = all.bridge!.id;
  await obs.until(() => obs.story("bea", id).filter((t) => t === "OFFLINE").length === 2, "bea's second OFFLINE");
  expect(obs.story("bea", id)).toEqual(["ONLINE", "ENTER_ROOM den", "LEAVE_ROOM den", "OFFLINE", "ONLINE", "OFFLINE"]);
});

test("mqtt.activity chooses the types that go out", async () => {
  const c = await connect(some, "cy", { rid: "attic" });
  c.send({ t: "HB" });
  c.send({ t: "JOIN", join: { rid: "" } });
  c.close();
  const id = some.bridge!.id;
  await obs.until(() => obs.story("cy", id).includes("OFFLINE"), "cy's OFFLINE");
  // Activity from one publisher arrives in order, so nothing filtered could still be on its way.
  expect(obs.story("cy", id)).toEqual(["ONLINE", "OFFLINE"]);
  expect(await metric(some, "comet_bridge_activity_out_total", { type: "HEARD" })).toBe(0);
  expect(await metric(some, "comet_bridge_activity_out_total", { type: "ONLINE" })).toBe(1);
});

test("activity goes out at mqtt.qos", async () => {
  const c = await connect(qos1, "dee");
  c.close();
  const id = qos1.bridge!.id;
  await obs.until(() => obs.story("dee", id).includes("OFFLINE"), "dee's OFFLINE");
  expect(obs.activity("dee", id).map((x) => x.qos)).toEqual([1, 1]);
  expect(obs.activity("amy", all.bridge!.id)[0]?.qos).toBe(0);
});
