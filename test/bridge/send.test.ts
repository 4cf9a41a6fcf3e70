/** sendEvent: what `comet publish|broadcast --mqtt URL` calls to put one Event on the broker. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createServer, type Socket } from "node:net";
import { SendError, sendEvent } from "../../src/bridge/wire/send.ts";
import { freePort, OBSERVER, TestBroker } from "./broker.ts";
import { Observer } from "./util.ts";

let broker: TestBroker;
let obs: Observer;
const creds = { username: "sender", password: "sender-pw" };

beforeAll(async () => {
  broker = await TestBroker.start({ anonymous: false, users: { [creds.username]: creds.password } });
  obs = await Observer.connect(broker.url, ["comet/events", "other/topic"], OBSERVER, 1);
});

afterAll(async () => {
  await obs?.close();
  await broker?.stop();
});

test("sends the Event JSON to the topic, with uid and rid only when given", async () => {
  await sendEvent(broker.url, "comet/events", { uid: "alice", evt: "hi" }, creds);
  await sendEvent(broker.url, "comet/events", { rid: "lobby", evt: 'a "quoted" evt\n' }, creds);
  await sendEvent(broker.url, "other/topic", { evt: "everyone" }, creds);
  await obs.until(() => obs.messages.length === 3, "three events");
  expect(obs.messages.map((m) => [m.topic, m.text])).toEqual([
    ["comet/events", '{"uid":"alice","evt":"hi"}'],
    ["comet/events", '{"rid":"lobby","evt":"a \\"quoted\\" evt\\n"}'],
    ["other/topic", '{"evt":"everyone"}'],
  ]);
});

test("at QoS 1 it resolves once the broker has acknowledged the event", async () => {
  const n = obs.messages.length;
  await sendEvent(broker.url, "comet/events", { uid: "bob", evt: "acked" }, { ...creds, qos: 1 });
  await obs.until(() => obs.messages.length === n + 1, "the QoS 1 event");
  expect(obs.messages.at(-1)).toEqual({ topic: "comet/events", text: '{"uid":"bob","evt":"acked"}', qos: 1 });
});

test("a broker that cannot be reached is named in the error, its password hidden", async () => {
  const port = await freePort();
  const err = await sendEvent(`mqtt://sender:hunter2@127.0.0.1:${port}`, "comet/events", { evt: "x" }).catch((e) => e);
  expect(err).toBeInstanceOf(SendError);
  expect(err.message).toContain(`mqtt: cannot reach broker mqtt://sender:***@127.0.0.1:${port}`);
  expect(err.message).toContain("ECONNREFUSED");
  expect(err.message).not.toContain("hunter2");
});

test("a broker that refuses the credentials says so", async () => {
  const err = await sendEvent(broker.url, "comet/events", { evt: "x" }, { username: "sender", password: "nope" }).catch(
    (e) => e,
  );
  expect(err).toBeInstanceOf(SendError);
  expect(err.message).toMatch(new RegExp(`^mqtt: broker ${broker.url}: Connection refused: Not authori[sz]ed`, "i"));
});

test("a server that accepts the connection but never answers gives up after timeoutMs", async () => {
  const sockets: Socket[] = [];
  const silent = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  try {
    const err = await sendEvent(`mqtt://127.0.0.1:${port}`, "comet/events", { evt: "x" }, { timeoutMs: 200 }).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(SendError);
    expect(err.message).toBe(`mqtt: no answer from broker mqtt://127.0.0.1:${port} within 200 ms`);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test("a URL that is not a broker URL is refused before any connection", async () => {
  const err = await sendEvent("http://127.0.0.1:8080", "comet/events", { evt: "x" }).catch((e) => e);
  expect(err).toBeInstanceOf(SendError);
  expect(err.message).toBe(
    'mqtt: expected a broker URL like mqtt://127.0.0.1:1883 (mqtt, mqtts, ws, wss), got "http://127.0.0.1:8080"',
  );
});
