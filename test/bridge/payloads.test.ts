/** Whatever arrives on the events topic, the bridge goes on: bad payloads are dropped, counted and logged. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitReadyz } from "./util.ts";

let broker: TestBroker;
let server: Comet;
let pub: Observer;
const lines: string[] = [];

beforeAll(async () => {
  broker = await TestBroker.start();
  server = await startComet(`mqtt: {url: "${broker.url}"}`, lines);
  await waitReadyz(server, 200);
  pub = await Observer.connect(broker.url, []);
});

afterAll(async () => {
  await pub?.close();
  await server?.stop();
  await broker?.stop();
});

const SECRET_EVT = "do-not-log-this-evt";
const invalid: Array<[string, string | Buffer]> = [
  ["not JSON", `hello ${SECRET_EVT}`],
  ["empty", ""],
  ["an array", JSON.stringify([{ uid: "kim", evt: SECRET_EVT }])],
  ["null", "null"],
  ["a number uid", JSON.stringify({ uid: 7, evt: SECRET_EVT })],
  ["an array uid", JSON.stringify({ uid: ["kim"], evt: SECRET_EVT })],
  ["an object evt", JSON.stringify({ uid: "kim", evt: { text: SECRET_EVT } })],
  ["not UTF-8", Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d])],
];
const tooLarge: Array<[string, string]> = [
  ["a payload over limits.max_body_bytes", JSON.stringify({ uid: "kim", evt: "x".repeat(1_200_000) })],
  ["an evt over limits.max_evt_bytes", JSON.stringify({ uid: "kim", evt: "é".repeat(32_769) })],
];

test("bad payloads are dropped and counted, and good events after them still arrive", async () => {
  const kim = await connect(server, "kim");
  const before = {
    invalid: await metric(server, "comet_bridge_events_in_total", { outcome: "invalid" }),
    tooLarge: await metric(server, "comet_bridge_events_in_total", { outcome: "too_large" }),
    delivered: await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" }),
  };
  for (const [, payload] of [...invalid, ...tooLarge]) await pub.publish("comet/events", payload);
  await pub.publish("comet/events", JSON.stringify({ uid: "kim", evt: "good" }));
  await pub.publish("comet/events", JSON.stringify({ evt: "good for all" }));
  await kim.waitPushes(2);
  expect(kim.pushes()).toEqual(["good", "good for all"]);
  expect(kim.closeInfo).toBeUndefined();
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "invalid" })).toBe(
    before.invalid + invalid.length,
  );
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "too_large" })).toBe(
    before.tooLarge + tooLarge.length,
  );
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" })).toBe(before.delivered + 2);
  expect(await metric(server, "comet_bridge_connected")).toBe(1);
  kim.close();
});

test("a dropped event is logged with the reason, rate-limited, never with its content", () => {
  const dropped = lines.map((l) => JSON.parse(l)).filter((o) => o.msg === "mqtt: event dropped");
  expect(dropped.length).toBeGreaterThanOrEqual(1);
  expect(dropped[0]).toMatchObject({ level: "warn", topic: "comet/events", reason: "payload is not valid JSON" });
  // Ten bad payloads in a burst make far fewer lines: one per second, the rest counted in `suppressed`.
  expect(dropped.length).toBeLessThan(invalid.length + tooLarge.length);
  expect(lines.join("\n")).not.toContain(SECRET_EVT);
});

test("activity on the activity topic that is not activity is counted and ignored", async () => {
  const before = await metric(server, "comet_bridge_activity_in_total", { outcome: "invalid" });
  const lee = await connect(server, "lee");
  await pub.publish("comet/user-activity", "not activity");
  await pub.publish("comet/user-activity", JSON.stringify({ type: "ONLINE", uid: "lee", time: "soon" }));
  await pub.publish("comet/events", JSON.stringify({ uid: "lee", evt: "after" }));
  expect(await lee.waitPushes(1)).toEqual(["after"]);
  expect(await metric(server, "comet_bridge_activity_in_total", { outcome: "invalid" })).toBe(before + 2);
  lee.close();
});
