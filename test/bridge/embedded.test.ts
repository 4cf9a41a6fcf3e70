/** mqtt.embedded.listen: a broker inside the comet process, reachable by any MQTT client. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connectAsync } from "mqtt";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { connect } from "../helpers.ts";
import { type Comet, closedBy, forgedOnline, Observer, startComet, waitReadyz } from "./util.ts";

let server: Comet;
let url: string;

beforeAll(async () => {
  console.log("bridge tests: broker = embedded (aedes in the comet process)");
  server = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:0"}}`);
  url = server.bridge!.embedded!.url;
  await waitReadyz(server, 200);
});

afterAll(async () => {
  await server?.stop();
});

test("an outside mqtt.js client publishes an Event that reaches a WebSocket client", async () => {
  const ann = await connect(server, "ann");
  const backend = await connectAsync(url, { reconnectPeriod: 0 });
  await backend.publishAsync("comet/events", JSON.stringify({ uid: "ann", evt: "from a backend" }));
  expect(await ann.waitPushes(1)).toEqual(["from a backend"]);
  await backend.endAsync();
  ann.close();
});

test("on the loopback default an anonymous client is a backend: it reads activity, and its forged ONLINE is refused", async () => {
  const obs = await Observer.connect(url, ["comet/user-activity"]);
  const dee = await connect(server, "dee", { rid: "hall" });
  await obs.until(() => obs.story("dee").length >= 2, "dee's activity");
  expect(obs.story("dee").slice(0, 2)).toEqual(["ONLINE", "ENTER_ROOM hall"]);
  const forger = await connectAsync(url, { reconnectPeriod: 0 });
  forger.on("error", () => {});
  const closed = closedBy(forger);
  forger.publish("comet/user-activity", forgedOnline("dee"));
  await closed;
  // Had the broker passed it on, the bridge would have closed dee 4409 before this Event arrived.
  await sendEvent(url, "comet/events", { uid: "dee", evt: "still here" });
  expect(await dee.waitPushes(1)).toEqual(["still here"]);
  expect(dee.closeInfo).toBeUndefined();
  expect(server.hub.sessions.has("dee")).toBe(true);
  expect(obs.messages.filter((m) => m.text.includes("forger"))).toEqual([]);
  dee.close();
  await obs.close();
});

test("with mqtt.username and mqtt.password, the embedded broker lets in only clients that present them", async () => {
  const locked = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:0"}, username: comet, password: s3cret}`);
  try {
    await waitReadyz(locked, 200);
    const at = locked.bridge!.embedded!.url;
    await expect(connectAsync(at, { reconnectPeriod: 0 })).rejects.toThrow(/not authori[sz]ed/i);
    await expect(connectAsync(at, { reconnectPeriod: 0, username: "comet", password: "wrong" })).rejects.toThrow(
      /not authori[sz]ed/i,
    );
    const cid = await connect(locked, "cid");
    await sendEvent(
      at,
      "comet/events",
      { uid: "cid", evt: "with credentials" },
      { username: "comet", password: "s3cret" },
    );
    expect(await cid.waitPushes(1)).toEqual(["with credentials"]);
    cid.close();
  } finally {
    await locked.stop();
  }
});

test("a taken port stops the start with a message naming the key; stop() frees the port", async () => {
  const port = server.bridge!.embedded!.port;
  await expect(startComet(`mqtt: {embedded: {listen: "127.0.0.1:${port}"}}`)).rejects.toThrow(
    `mqtt.embedded.listen: cannot listen on 127.0.0.1:${port}: address in use`,
  );
  const first = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:0"}}`);
  const freed = first.bridge!.embedded!.port;
  await first.stop();
  const again = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:${freed}"}}`);
  await waitReadyz(again, 200);
  await again.stop();
});
