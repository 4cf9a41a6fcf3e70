/**
 * The broker away, at start and later: the instance keeps serving its own clients, says so on
 * /readyz, queues activity (bounded), and recovers by itself when the broker is back on its port.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { api, type Client, connect, inProcess } from "../helpers.ts";
import { freePort, OBSERVER, TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let port: number;
let server: Comet;
let broker: TestBroker | undefined;
let alice: Client;
const observers: Observer[] = [];

beforeAll(async () => {
  port = await freePort();
  server = await startComet(`mqtt: {url: "mqtt://127.0.0.1:${port}", queue: 3}`);
});

afterAll(async () => {
  for (const o of observers) await o.close();
  await server?.stop();
  await broker?.stop();
});

/** An observer that gets in while the broker still refuses anonymous clients, such as the bridge. */
async function observe(b: TestBroker): Promise<Observer> {
  const o = await Observer.connect(b.url, ["comet/user-activity"], OBSERVER);
  observers.push(o);
  return o;
}

test("with no broker at start, the instance serves its clients and /readyz says 503 naming the broker", async () => {
  const body = await waitReadyz(server, 503);
  expect(body.status).toBe("not ready");
  expect(body.reason).toContain(`mqtt://127.0.0.1:${port}`);
  expect(body.reason).toContain("ECONNREFUSED");
  expect(await metric(server, "comet_bridge_connected")).toBe(0);
  alice = await connect(server, "alice");
  expect((await api(server, "Publish", { uid: "alice", evt: "over http" })).status).toBe(200);
  expect(await alice.waitPushes(1)).toEqual(["over http"]);
});

test("the broker appears: the bridge keeps trying, reports a refusal, connects, and sends what it queued", async () => {
  // Anonymous clients (the bridge) are refused until the observer is subscribed, so that it sees all.
  broker = await TestBroker.start({ port, anonymous: false });
  const obs = await observe(broker);
  await waitFor(
    async () => /not authori[sz]ed/i.test((await waitReadyz(server, 503)).reason ?? ""),
    "/readyz to report the refusal",
  );
  await broker.allowAnonymous();
  await waitReadyz(server, 200);
  expect(await metric(server, "comet_bridge_connected")).toBe(1);
  await obs.until(() => obs.story("alice").length > 0, "alice's queued ONLINE");
  expect(obs.story("alice")).toEqual(["ONLINE"]);
  await sendEvent(broker.url, "comet/events", { uid: "alice", evt: "over mqtt" });
  expect(await alice.waitPushes(2)).toEqual(["over http", "over mqtt"]);
  expect(await metric(server, "comet_bridge_reconnects_total")).toBe(0);
});

test("the broker killed and restarted on its port: clients stay, the bridge recovers with its bounded queue", async () => {
  const b = broker as TestBroker;
  await b.kill();
  expect((await waitReadyz(server, 503)).reason).toContain(`mqtt://127.0.0.1:${port}`);
  expect(await metric(server, "comet_bridge_connected")).toBe(0);

  // Served as before while the broker is away.
  expect((await api(server, "Publish", { uid: "alice", evt: "during the outage" })).status).toBe(200);
  expect(await alice.waitPushes(3)).toContain("during the outage");

  // Five activities into a queue of three: the two oldest go, counted.
  const dropped = await metric(server, "comet_bridge_activity_dropped_total", { reason: "queue_full" });
  const bob = await connect(server, "bob", { rid: "r1" }); // ONLINE, ENTER_ROOM r1
  bob.send({ t: "HB" }); // HEARD r1
  bob.close(); // LEAVE_ROOM r1, OFFLINE
  await waitFor(() => !server.hub.sessions.has("bob"), "bob's session to end");
  expect(await metric(server, "comet_bridge_activity_dropped_total", { reason: "queue_full" })).toBe(dropped + 2);
  expect(await metric(server, "comet_bridge_queue_length")).toBe(3);

  await b.restart({ anonymous: false });
  const obs = await observe(b);
  await b.allowAnonymous();
  await waitReadyz(server, 200);
  await obs.until(() => obs.story("bob").includes("OFFLINE"), "bob's queued activity");
  expect(obs.story("bob")).toEqual(["HEARD r1", "LEAVE_ROOM r1", "OFFLINE"]);
  expect(await metric(server, "comet_bridge_queue_length")).toBe(0);
  expect(await metric(server, "comet_bridge_reconnects_total")).toBe(1);

  // The same connection, still open, gets events through the broker again: resubscribed.
  await sendEvent(b.url, "comet/events", { uid: "alice", evt: "after the restart" });
  expect((await alice.waitPushes(4)).at(-1)).toBe("after the restart");
  expect(alice.closeInfo).toBeUndefined();
});

test("a broker that stops reading: unsent bytes stay bounded, the queue takes the rest, and drains later", async () => {
  const b = broker as TestBroker;
  const carl = await connect(server, "carl");
  const { hub } = inProcess(server);
  const session = hub.sessions.get("carl")!;
  const out = await metric(server, "comet_bridge_activity_out_total", { type: "HEARD" });
  const dropped = await metric(server, "comet_bridge_activity_dropped_total", { reason: "queue_full" });
  b.pause();
  try {
    // Until the kernel's socket buffers (their size varies by host) and the bridge's 1 MiB of
    // unsent bytes are full, and activity has to wait in the queue.
    let n = 0;
    while ((await metric(server, "comet_bridge_queue_length")) === 0 && n < 2_000_000) {
      for (let i = 0; i < 20_000; i++) hub.heard(session);
      n += 20_000;
    }
    expect(await metric(server, "comet_bridge_queue_length")).toBe(3);
    const sent = (await metric(server, "comet_bridge_activity_out_total", { type: "HEARD" })) - out;
    const lost = (await metric(server, "comet_bridge_activity_dropped_total", { reason: "queue_full" })) - dropped;
    expect(sent + lost + 3).toBe(n);
    expect(lost).toBeGreaterThan(0);
  } finally {
    b.resume();
  }
  await waitFor(async () => (await metric(server, "comet_bridge_queue_length")) === 0, "the queue to drain");
  expect(await metric(server, "comet_bridge_connected")).toBe(1);
  carl.close();
});
