import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Activity } from "../../src/hub/activity.ts";
import { api, Client, connect, startTest, token, waitFor } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
const activity: Activity[] = [];
beforeAll(async () => {
  server = await startTest();
  server.hub.onActivity((a) => activity.push(a));
});
afterAll(() => server.stop());

const eventsOf = (uid: string) =>
  activity.filter((a) => a.uid === uid).map((a) => `${a.type}${a.rid ? `:${a.rid}` : ""}`);

async function opened(path = "/comet/Comet/Subscribe"): Promise<Client> {
  const c = new Client(server.ws.replace("/comet/Comet/Subscribe", path));
  await c.opened;
  return c;
}

describe("AUTH", () => {
  test("AUTH with join enters the room at once", async () => {
    const c = await connect(server, "u-join", { rid: "r1" });
    expect(server.hub.sessions.get("u-join")?.rid).toBe("r1");
    expect(eventsOf("u-join")).toEqual(["ONLINE", "ENTER_ROOM:r1"]);
    c.close();
  });

  test("the short path /comet/subscribe serves the same protocol", async () => {
    const c = await opened("/comet/subscribe");
    c.send({ t: 1, auth: { token: await token("u-short") } });
    await waitFor(() => server.hub.sessions.has("u-short"));
    await api(server, "Publish", { uid: "u-short", evt: "x" });
    expect(await c.waitPushes(1)).toEqual(["x"]);
    c.close();
  });

  test("a first frame that is not AUTH is closed 4400", async () => {
    const c = await opened();
    c.send({ t: "HB" });
    expect((await c.waitClose()).code).toBe(4400);
    expect(c.closeInfo?.reason).toBe("the first frame must be AUTH");
  });

  test("a first JOIN is closed 4400", async () => {
    const c = await opened();
    c.send({ t: "JOIN", join: { rid: "x" } });
    expect((await c.waitClose()).code).toBe(4400);
  });

  test.each([
    ["no auth object", { t: "AUTH" }, "token missing"],
    ["an empty token", { t: "AUTH", auth: { token: "" } }, "token missing"],
    ["a token that is not a JWT", { t: "AUTH", auth: { token: "garbage" } }, "token invalid"],
  ])("AUTH with %s is closed 4401", async (_name, frame, reason) => {
    const c = await opened();
    c.send(frame);
    expect(await c.waitClose()).toEqual({ code: 4401, reason });
  });

  test("a wrong issuer, a wrong signature, an expired token, no sub: 4401, and the token is never echoed", async () => {
    const cases: Array<[string, string]> = [
      [await token("u", { iss: "someone.else" }), "token has the wrong issuer"],
      [await token("u", { secret: "another-secret-another-secret-another" }), "token signature invalid"],
      [await token("u", { exp: -60 }), "token expired"],
      [await token(""), "token has no sub"],
    ];
    for (const [tok, reason] of cases) {
      const c = await opened();
      c.send({ t: "AUTH", auth: { token: tok } });
      const closed = await c.waitClose();
      expect(closed).toEqual({ code: 4401, reason });
      expect(closed.reason).not.toContain(tok.slice(0, 20));
    }
  });

  test("frames sent right behind AUTH wait for its verification and keep their order", async () => {
    const c = await opened();
    c.send({ t: "AUTH", auth: { token: await token("u-order") } });
    c.send({ t: "JOIN", join: { rid: "a" } });
    c.send({ t: "JOIN", join: { rid: "b" } });
    c.send({ t: "HB" });
    await waitFor(() => server.hub.sessions.get("u-order")?.rid === "b");
    expect(eventsOf("u-order")).toEqual([
      "ONLINE",
      "HEARD",
      "ENTER_ROOM:a",
      "HEARD:a",
      "LEAVE_ROOM:a",
      "ENTER_ROOM:b",
      "HEARD:b",
    ]);
    c.close();
  });

  test("re-AUTH with the same sub refreshes the token and keeps the room", async () => {
    const c = await connect(server, "u-refresh", { rid: "keep" });
    c.send({ t: "AUTH", auth: { token: await token("u-refresh", { exp: 7200 }) } });
    c.send({ t: "HB" });
    await waitFor(() => eventsOf("u-refresh").filter((e) => e.startsWith("HEARD")).length === 2);
    expect(server.hub.sessions.get("u-refresh")?.rid).toBe("keep");
    expect(c.closeInfo).toBeUndefined();
    c.close();
  });

  test("re-AUTH with a join acts as a JOIN", async () => {
    const c = await connect(server, "u-rejoin", { rid: "one" });
    c.send({ t: "AUTH", auth: { token: await token("u-rejoin") }, join: { rid: "two" } });
    await waitFor(() => server.hub.sessions.get("u-rejoin")?.rid === "two");
    c.close();
  });

  test("re-AUTH with a different sub is closed 4403", async () => {
    const c = await connect(server, "u-sub1");
    c.send({ t: "AUTH", auth: { token: await token("u-sub2") } });
    expect(await c.waitClose()).toEqual({ code: 4403, reason: "re-AUTH with a different sub" });
    expect(server.hub.sessions.has("u-sub1")).toBe(false);
    expect(server.hub.sessions.has("u-sub2")).toBe(false);
  });

  test("a failed re-AUTH closes the live session 4401", async () => {
    const c = await connect(server, "u-badre");
    c.send({ t: "AUTH", auth: { token: "nope" } });
    expect((await c.waitClose()).code).toBe(4401);
    await waitFor(() => !server.hub.sessions.has("u-badre"));
  });
});

describe("frames", () => {
  test("t by number, type as its alias, {} as HB, binary JSON", async () => {
    const c = await opened();
    c.send(JSON.stringify({ type: 1, auth: { token: await token("u-frames") } }));
    await waitFor(() => server.hub.sessions.has("u-frames"));
    c.send("{}");
    c.ws.send(new TextEncoder().encode(JSON.stringify({ t: 2, join: { rid: "bin" } })));
    await waitFor(() => server.hub.sessions.get("u-frames")?.rid === "bin");
    expect(eventsOf("u-frames")).toEqual(["ONLINE", "HEARD", "HEARD", "ENTER_ROOM:bin"]);
    c.close();
  });

  test.each([
    ["malformed JSON", "{nope", "malformed JSON"],
    ["an unknown t", '{"t":"SHOUT"}', "unknown t"],
    ["an uplink PUSH", '{"t":"PUSH","push":{"evt":"x"}}', "PUSH is downlink only"],
    ["a JSON array", "[1,2]", "frame must be a JSON object"],
  ])("%s on a live session is closed 4400", async (_name, text, reason) => {
    const c = await connect(server, `u-bad-${reason}`);
    c.send(text);
    expect(await c.waitClose()).toEqual({ code: 4400, reason });
  });

  test("a binary frame that is not UTF-8 is closed 4400", async () => {
    const c = await connect(server, "u-binbad");
    c.ws.send(new Uint8Array([0xff, 0xfe, 0x7b]));
    expect((await c.waitClose()).code).toBe(4400);
  });
});

describe("rooms and the world", () => {
  test("JOIN the same room is a no-op", async () => {
    const c = await connect(server, "u-same", { rid: "same" });
    c.send({ t: "JOIN", join: { rid: "same" } });
    c.send({ t: "HB" });
    await waitFor(() => eventsOf("u-same").filter((e) => e.startsWith("HEARD")).length === 2);
    expect(eventsOf("u-same")).toEqual(["ONLINE", "ENTER_ROOM:same", "HEARD:same", "HEARD:same"]);
    await api(server, "Broadcast", { rid: "same", evt: "once" });
    expect(await c.waitPushes(1)).toEqual(["once"]);
    c.close();
  });

  test("JOIN another room leaves the last one", async () => {
    const c = await connect(server, "u-move", { rid: "from" });
    c.send({ t: "JOIN", join: { rid: "to" } });
    await waitFor(() => server.hub.sessions.get("u-move")?.rid === "to");
    expect(server.hub.rooms.has("from")).toBe(false);
    await api(server, "Broadcast", { rid: "from", evt: "old room" });
    await api(server, "Broadcast", { rid: "to", evt: "new room" });
    expect(await c.waitPushes(1)).toEqual(["new room"]);
    expect(eventsOf("u-move")).toEqual(["ONLINE", "ENTER_ROOM:from", "HEARD:from", "LEAVE_ROOM:from", "ENTER_ROOM:to"]);
    c.close();
  });

  test('JOIN "" leaves the room and the world still reaches the client', async () => {
    const c = await connect(server, "u-leave", { rid: "gone" });
    c.send({ t: "JOIN", join: { rid: "" } });
    await waitFor(() => server.hub.sessions.get("u-leave")?.rid === "");
    await api(server, "Broadcast", { rid: "gone", evt: "room" });
    await api(server, "Broadcast", { evt: "world" });
    await c.until(() => c.pushes().includes("world"));
    expect(c.pushes()).not.toContain("room");
    c.close();
  });

  test("a replaced session gets nothing more: closed 4409, its events before the new ONLINE", async () => {
    const old = await connect(server, "u-twice", { rid: "r-twice" });
    const fresh = new Client(server.ws);
    await fresh.opened;
    fresh.send({ t: "AUTH", auth: { token: await token("u-twice") } });
    expect(await old.waitClose()).toEqual({ code: 4409, reason: "replaced by a newer session of the same uid" });
    await api(server, "Publish", { uid: "u-twice", evt: "to the new one" });
    await api(server, "Broadcast", { rid: "r-twice", evt: "room of the old one" });
    await api(server, "Broadcast", { evt: "world" });
    await fresh.waitPushes(2);
    expect(fresh.pushes()).toEqual(["to the new one", "world"]);
    expect(old.pushes()).toEqual([]);
    expect(eventsOf("u-twice")).toEqual(["ONLINE", "ENTER_ROOM:r-twice", "LEAVE_ROOM:r-twice", "OFFLINE", "ONLINE"]);
    fresh.close();
  });

  test("rooms vanish when empty, sessions when their socket closes", async () => {
    const a = await connect(server, "u-vanish", { rid: "vanish" });
    expect(server.hub.rooms.get("vanish")?.size).toBe(1);
    a.close();
    await waitFor(() => !server.hub.sessions.has("u-vanish"));
    expect(server.hub.rooms.has("vanish")).toBe(false);
    expect(eventsOf("u-vanish")).toEqual(["ONLINE", "ENTER_ROOM:vanish", "LEAVE_ROOM:vanish", "OFFLINE"]);
  });

  test("500 clients in one room each receive one broadcast exactly once", async () => {
    const clients = await Promise.all(
      Array.from({ length: 500 }, (_, i) => connect(server, `crowd-${i}`, { rid: "crowd" })),
    );
    const outsider = await connect(server, "outsider", { rid: "elsewhere" });
    expect(server.hub.rooms.get("crowd")?.size).toBe(500);
    expect((await api(server, "Broadcast", { rid: "crowd", evt: "to the crowd" })).status).toBe(200);
    await Promise.all(clients.map((c) => c.waitPushes(1, 5000)));
    await api(server, "Publish", { uid: "outsider", evt: "marker" });
    await outsider.waitPushes(1);
    for (const c of clients) c.send({ t: "HB" }); // a round trip: anything late would now have arrived
    await Bun.sleep(50);
    for (const c of clients) expect(c.pushes()).toEqual(["to the crowd"]);
    expect(outsider.pushes()).toEqual(["marker"]);
    for (const c of clients) c.close();
    outsider.close();
    await waitFor(() => !server.hub.rooms.has("crowd"), "crowd gone", 5000);
  });

  test("a client sending garbage does not disturb the others", async () => {
    const good = await connect(server, "u-good", { rid: "shared" });
    const bad = await connect(server, "u-garbage", { rid: "shared" });
    bad.send("\u0000\u0001 garbage {{{");
    expect((await bad.waitClose()).code).toBe(4400);
    const r = await api(server, "Broadcast", { rid: "shared", evt: "still here" });
    expect(r.status).toBe(200);
    expect(await good.waitPushes(1)).toEqual(["still here"]);
    expect(good.closeInfo).toBeUndefined();
    expect(server.hub.rooms.get("shared")?.size).toBe(1);
    good.close();
  });
});

describe("DumpSession", () => {
  test("world newest first, rooms by rid in UTF-8 order, birth RFC 3339 with milliseconds", async () => {
    const local = await startTest();
    try {
      const a = await connect(local as never, "a", { rid: "\u{1F600}" });
      await Bun.sleep(3);
      const b = await connect(local as never, "b", { rid: "\uFF5E" });
      await Bun.sleep(3);
      const c = await connect(local as never, "c");
      const r = await api(local, "DumpSession", "");
      expect(r.status).toBe(200);
      const dump = r.json as {
        world: Array<{ uid: string; rid: string; birth: string }>;
        rooms: Array<{ rid: string; room: unknown[] }>;
      };
      expect(dump.world.map((s) => s.uid)).toEqual(["c", "b", "a"]);
      expect(dump.world[0]).toEqual({
        uid: "c",
        rid: "",
        birth: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      expect(dump.rooms.map((x) => x.rid)).toEqual(["\uFF5E", "\u{1F600}"]);
      expect(dump.rooms[0]?.room).toEqual([dump.world[1]]);
      for (const x of [a, b, c]) x.close();
    } finally {
      await local.stop();
    }
  });
});
