import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import type { Activity } from "../../src/hub/activity.ts";
import { api, Client, connect, token, waitFor } from "../helpers.ts";
import { type CometClient, call, grpcClient, Stream, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

let server: TestServer;
let client: CometClient;
const activity: Activity[] = [];
beforeAll(async () => {
  server = await startGrpcTest();
  server.hub.onActivity((a) => activity.push(a));
  client = grpcClient(server);
});
afterAll(async () => {
  client.close();
  await server.stop();
});

const eventsOf = (uid: string) =>
  activity.filter((a) => a.uid === uid).map((a) => `${a.type}${a.rid ? `:${a.rid}` : ""}`);

describe("a session over gRPC", () => {
  test("AUTH with join enters the room; HTTP Publish and Broadcast reach it byte for byte", async () => {
    const s = await subscribe(server, client, "g-life", { rid: "lobby" });
    expect(eventsOf("g-life")).toEqual(["ONLINE", "ENTER_ROOM:lobby"]);
    const evts = ['{"a":1,"b":"\\u00e9"}', 'line\nbreak "quoted" \\ back', "emoji 😀 and 中文", ""];
    for (const evt of evts) expect((await api(server, "Publish", { uid: "g-life", evt })).status).toBe(200);
    expect((await api(server, "Broadcast", { rid: "lobby", evt: "to the room" })).status).toBe(200);
    expect((await api(server, "Broadcast", { evt: "to the world" })).status).toBe(200);
    expect(await s.waitPushes(6)).toEqual([...evts, "to the room", "to the world"]);
    expect(s.downlinks.every((d) => d.t === "PUSH" && d.hb === null)).toBe(true);
    s.call.end();
  });

  test("gRPC Publish and Broadcast reach WebSocket and gRPC sessions alike", async () => {
    const g = await subscribe(server, client, "g-mixed-g", { rid: "mixed" });
    const w = await connect(server, "g-mixed-w", { rid: "mixed" });
    expect((await call(client, "Broadcast", { rid: "mixed", evt: "room" })).err).toBeNull();
    expect((await call(client, "Broadcast", { rid: "", evt: "world" })).err).toBeNull();
    expect((await call(client, "Publish", { uid: "g-mixed-w", evt: "to ws" })).err).toBeNull();
    expect((await call(client, "Publish", { uid: "g-mixed-g", evt: "to grpc" })).err).toBeNull();
    expect(await g.waitPushes(3)).toEqual(["room", "world", "to grpc"]);
    expect(await w.waitPushes(3)).toEqual(["room", "world", "to ws"]);
    g.call.end();
    w.close();
  });

  test("DumpSession with transport: true tells gRPC sessions from WebSocket ones; without it, the spec's three fields", async () => {
    const g = await subscribe(server, client, "g-kind-g", { rid: "kinds" });
    const w = await connect(server, "g-kind-w", { rid: "kinds" });
    type View = { uid: string; transport?: string };
    const withT = (await api(server, "DumpSession", { transport: true })).json as { world: View[] };
    expect(withT.world.find((x) => x.uid === "g-kind-g")?.transport).toBe("grpc");
    expect(withT.world.find((x) => x.uid === "g-kind-w")?.transport).toBe("websocket");
    const plain = (await api(server, "DumpSession", {})).json as { world: View[] };
    expect(Object.keys(plain.world.find((x) => x.uid === "g-kind-g") ?? {}).sort()).toEqual(["birth", "rid", "uid"]);
    g.call.end();
    w.close();
  });

  test("JOIN moves rooms, the same room is a no-op, an empty rid leaves; room broadcasts follow", async () => {
    const s = await subscribe(server, client, "g-join");
    s.send({ t: "JOIN", join: { rid: "a" } });
    s.send({ t: "JOIN", join: { rid: "a" } });
    s.send({ t: "JOIN", join: { rid: "b" } });
    await waitFor(() => server.hub.sessions.get("g-join")?.rid === "b");
    await api(server, "Broadcast", { rid: "a", evt: "not for me" });
    await api(server, "Broadcast", { rid: "b", evt: "b1" });
    s.send({ t: "JOIN", join: { rid: "" } });
    await waitFor(() => server.hub.sessions.get("g-join")?.rid === "");
    await api(server, "Broadcast", { rid: "b", evt: "gone" });
    await api(server, "Publish", { uid: "g-join", evt: "last" });
    expect(await s.waitPushes(2)).toEqual(["b1", "last"]);
    expect(eventsOf("g-join")).toEqual([
      "ONLINE",
      "HEARD",
      "ENTER_ROOM:a",
      "HEARD:a",
      "HEARD:a",
      "LEAVE_ROOM:a",
      "ENTER_ROOM:b",
      "HEARD:b",
      "LEAVE_ROOM:b",
    ]);
    s.call.end();
  });

  test("uplinks sent right behind AUTH wait for its verification and keep their order", async () => {
    const s = new Stream(client);
    s.send({ t: "AUTH", auth: { token: await token("g-order") } });
    s.send({ t: "JOIN", join: { rid: "x" } });
    s.send({ t: 2, join: { rid: "y" } });
    s.send({});
    await waitFor(() => eventsOf("g-order").length === 7);
    expect(eventsOf("g-order")).toEqual([
      "ONLINE",
      "HEARD",
      "ENTER_ROOM:x",
      "HEARD:x",
      "LEAVE_ROOM:x",
      "ENTER_ROOM:y",
      "HEARD:y",
    ]);
    s.call.end();
  });

  test("re-AUTH with the same sub keeps the room; a join on it acts as a JOIN", async () => {
    const s = await subscribe(server, client, "g-reauth", { rid: "keep" });
    s.send({ t: "AUTH", auth: { token: await token("g-reauth", { exp: 7200 }) } });
    s.send({ t: "HB" });
    await waitFor(() => eventsOf("g-reauth").filter((e) => e.startsWith("HEARD")).length === 2);
    expect(server.hub.sessions.get("g-reauth")?.rid).toBe("keep");
    s.send({ t: "AUTH", auth: { token: await token("g-reauth") }, join: { rid: "moved" } });
    await waitFor(() => server.hub.sessions.get("g-reauth")?.rid === "moved");
    expect(s.endInfo).toBeUndefined();
    s.call.end();
  });

  test("the client ending its side ends the session: OFFLINE, status OK", async () => {
    const s = await subscribe(server, client, "g-end", { rid: "r" });
    s.call.end();
    expect(await s.waitEnd()).toEqual({ code: status.OK, details: "client ended the stream", cometCode: 1000 });
    await waitFor(() => !server.hub.sessions.has("g-end"));
    expect(eventsOf("g-end").slice(-2)).toEqual(["LEAVE_ROOM:r", "OFFLINE"]);
  });

  test("the client cancelling ends the session and frees its room", async () => {
    const s = await subscribe(server, client, "g-cancel", { rid: "cancel-room" });
    s.call.cancel();
    await waitFor(() => !server.hub.sessions.has("g-cancel") && !server.hub.rooms.has("cancel-room"));
    expect(eventsOf("g-cancel").slice(-2)).toEqual(["LEAVE_ROOM:cancel-room", "OFFLINE"]);
    // A broadcast to the room finds no one; nothing is written to the cancelled stream.
    expect((await api(server, "Broadcast", { rid: "cancel-room", evt: "x" })).status).toBe(200);
  });
});

describe("one session per uid across transports", () => {
  test("a WebSocket login replaces a gRPC session: ABORTED with comet-code 4409", async () => {
    const g = await subscribe(server, client, "g-swap1", { rid: "s" });
    const w = await connect(server, "g-swap1");
    expect(await g.waitEnd()).toEqual({
      code: status.ABORTED,
      details: "replaced by a newer session of the same uid",
      cometCode: 4409,
    });
    await api(server, "Publish", { uid: "g-swap1", evt: "to the new one" });
    expect(await w.waitPushes(1)).toEqual(["to the new one"]);
    expect(g.pushes()).toEqual([]);
    expect(eventsOf("g-swap1")).toEqual(["ONLINE", "ENTER_ROOM:s", "LEAVE_ROOM:s", "OFFLINE", "ONLINE"]);
    w.close();
  });

  test("a gRPC login replaces a WebSocket session: the WebSocket is closed 4409", async () => {
    const w = await connect(server, "g-swap2");
    const g = new Stream(client);
    g.send({ t: "AUTH", auth: { token: await token("g-swap2") } });
    expect((await w.waitClose()).code).toBe(4409);
    await waitFor(() => server.hub.sessions.has("g-swap2"));
    await api(server, "Publish", { uid: "g-swap2", evt: "grpc now" });
    expect(await g.waitPushes(1)).toEqual(["grpc now"]);
    g.call.end();
  });

  test("a gRPC login replaces another gRPC session of the same uid", async () => {
    const first = await subscribe(server, client, "g-swap3");
    const other = grpcClient(server);
    const second = new Stream(other);
    second.send({ t: "AUTH", auth: { token: await token("g-swap3") } });
    expect((await first.waitEnd()).cometCode).toBe(4409);
    await api(server, "Publish", { uid: "g-swap3", evt: "second" });
    expect(await second.waitPushes(1)).toEqual(["second"]);
    second.call.end();
    other.close();
  });
});

describe("transport in /metrics, dump unchanged", () => {
  test("sessions and connections are counted by transport; DumpSession keeps uid, rid, birth", async () => {
    await waitFor(() => server.hub.sessions.size === 0, "no sessions left");
    const g = await subscribe(server, client, "g-metric-g", { rid: "m" });
    const w1 = await connect(server, "g-metric-w1");
    const w2 = await connect(server, "g-metric-w2");
    const pending = new Client(server.ws);
    await pending.opened;
    await waitFor(() => server.gateway.connections.size === 4);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toContain('comet_sessions_by_transport{transport="websocket"} 2');
    expect(text).toContain('comet_sessions_by_transport{transport="grpc"} 1');
    expect(text).toContain('comet_connections_by_transport{transport="websocket"} 3');
    expect(text).toContain('comet_connections_by_transport{transport="grpc"} 1');
    const dump = (await api(server, "DumpSession", {})).json as { world: Array<Record<string, string>> };
    expect(dump.world.find((s) => s.uid === "g-metric-g")).toEqual({
      uid: "g-metric-g",
      rid: "m",
      birth: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    });
    g.call.end();
    for (const c of [w1, w2, pending]) c.close();
  });
});
