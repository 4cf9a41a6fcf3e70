/** gRPC sessions and the MQTT bridge: Events reach them; one session per uid holds across the cluster. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { waitReadyz, waitFor as waitUntil } from "../bridge/util.ts";
import { connect, token, waitFor } from "../helpers.ts";
import { call, type CometClient, grpcClient, Stream, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

// Another instance joins the broker with the instances' account; anonymous clients would be backends.
const INSTANCE = { username: "comet", password: "grpc-bridge-secret-0123456789" };
const ACCOUNT = `username: ${INSTANCE.username}, password: ${INSTANCE.password}`;
let a: TestServer;
let url: string;
let client: CometClient;
beforeAll(async () => {
  // Instance a runs the broker in-process; instance b (per test) bridges to it.
  a = await startGrpcTest(`mqtt: {${ACCOUNT}, embedded: {listen: "127.0.0.1:0"}}`);
  url = a.bridge?.embedded?.url as string;
  await waitReadyz(a, 200);
  client = grpcClient(a);
});
afterAll(async () => {
  client.close();
  await a.stop();
});

test("Events from the broker reach gRPC sessions: to a uid, to a room, to the world", async () => {
  const s = await subscribe(a, client, "br-g", { rid: "hall" });
  await sendEvent(url, "comet/events", { uid: "br-g", evt: "to me" }, INSTANCE);
  await sendEvent(url, "comet/events", { rid: "hall", evt: "to the hall" }, INSTANCE);
  await sendEvent(url, "comet/events", { evt: "to everyone" }, INSTANCE);
  expect(await s.waitPushes(3)).toEqual(["to me", "to the hall", "to everyone"]);
  s.call.end();
});

test("a login on another instance ends this instance's gRPC session 4409, and the reverse", async () => {
  const b = await startGrpcTest(`mqtt: {url: "${url}", ${ACCOUNT}}`);
  const bc = grpcClient(b);
  try {
    await waitReadyz(b, 200);
    const here = await subscribe(a, client, "br-move");
    const there = await connect(b, "br-move");
    expect(await here.waitEnd(5000)).toEqual({
      code: status.ABORTED,
      cometCode: 4409,
      details: "replaced by a newer session of the same uid on another instance",
    });
    // And back: a gRPC login on b's peer a replaces the WebSocket on b.
    const back = new Stream(client);
    back.send({ t: "AUTH", auth: { token: await token("br-move") } });
    expect((await there.waitClose(5000)).code).toBe(4409);
    await waitFor(() => a.hub.sessions.has("br-move") && !b.hub.sessions.has("br-move"), "moved back", 5000);
    back.call.end();
  } finally {
    bc.close();
    await b.stop();
  }
});

test("with forward_api, gRPC Publish and Broadcast reach the cluster once, and DumpSession answers for it", async () => {
  const yaml = `mqtt: {url: "${url}", ${ACCOUNT}, routing: on, forward_api: true}`;
  const [c, d] = await Promise.all([startGrpcTest(yaml), startGrpcTest(yaml)]);
  const cc = grpcClient(c);
  try {
    await Promise.all([waitReadyz(c, 200), waitReadyz(d, 200)]);
    const far = await connect(d, "fw-far", { rid: "fw-room" });
    const near = await subscribe(c, cc, "fw-near", { rid: "fw-room" });
    // Until each instance's status has reached the other: then the dump holds both sessions.
    await waitUntil(
      async () => {
        const { res } = await call(cc, "DumpSession", {});
        return (res as { world: unknown[] }).world.length === 2;
      },
      "both instances in the dump",
      10_000,
    );
    expect((await call(cc, "Publish", { uid: "fw-far", evt: "to far" })).err).toBeNull();
    expect((await call(cc, "Broadcast", { rid: "fw-room", evt: "to the room" })).err).toBeNull();
    expect(await far.waitPushes(2, 5000)).toEqual(["to far", "to the room"]);
    expect(await near.waitPushes(1, 5000)).toEqual(["to the room"]);
    const { res } = await call(cc, "DumpSession", {});
    const dump = res as {
      world: Array<{ uid: string }>;
      rooms: Array<{ rid: string; room: unknown[] }>;
      unanswered: string[];
    };
    expect(dump.world.map((x) => x.uid).sort()).toEqual(["fw-far", "fw-near"]);
    expect(dump.rooms.map((r) => [r.rid, r.room.length])).toEqual([["fw-room", 2]]);
    expect(dump.unanswered).toEqual([]);
    // Nothing arrives twice.
    await Bun.sleep(200);
    expect(far.pushes()).toEqual(["to far", "to the room"]);
    expect(near.pushes()).toEqual(["to the room"]);
    near.call.end();
    far.close();
  } finally {
    cc.close();
    await Promise.all([c.stop(), d.stop()]);
  }
});
