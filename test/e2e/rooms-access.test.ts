import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Activity } from "../../src/hub/activity.ts";
import { api, Client, connect, startTest, token, waitFor } from "../helpers.ts";

type Server = Awaited<ReturnType<typeof startTest>>;

async function authed(server: Server, uid: string, rooms?: unknown, join?: string): Promise<Client> {
  const c = new Client(server.ws);
  await c.opened;
  const frame: Record<string, unknown> = { t: "AUTH", auth: { token: await token(uid, { rooms }) } };
  if (join !== undefined) frame.join = { rid: join };
  c.send(frame);
  return c;
}

describe("the rooms claim (auth.rooms: open)", () => {
  let server: Server;
  const activity: Activity[] = [];
  beforeAll(async () => {
    server = await startTest();
    server.hub.onActivity((a) => activity.push(a));
  });
  afterAll(() => server.stop());

  test("JOIN inside the claim works: exact rids and prefixes", async () => {
    const c = await authed(server, "ra-in", ["lobby", "team-42/*"]);
    await waitFor(() => server.hub.sessions.has("ra-in"));
    for (const rid of ["lobby", "team-42/x", "team-42/"]) {
      c.send({ t: "JOIN", join: { rid } });
      await waitFor(() => server.hub.sessions.get("ra-in")?.rid === rid);
    }
    c.close();
  });

  for (const rid of ["team-42", "team-421/x", "lobby2", "other"]) {
    test(`JOIN ${rid} outside ["lobby","team-42/*"] is closed 4403 and the room is never entered`, async () => {
      const uid = `ra-out-${rid}`;
      const c = await authed(server, uid, ["lobby", "team-42/*"]);
      await waitFor(() => server.hub.sessions.has(uid));
      c.send({ t: "JOIN", join: { rid } });
      expect(await c.waitClose()).toEqual({ code: 4403, reason: "room not allowed" });
      expect(server.hub.rooms.has(rid)).toBe(false);
      expect(activity.filter((a) => a.uid === uid).map((a) => a.type)).toEqual(["ONLINE", "HEARD", "OFFLINE"]);
    });
  }

  test("an AUTH's join outside the claim is closed 4403 before any session starts", async () => {
    const c = await authed(server, "ra-authjoin", ["lobby"], "secret-room");
    expect(await c.waitClose()).toEqual({ code: 4403, reason: "room not allowed" });
    expect(activity.some((a) => a.uid === "ra-authjoin")).toBe(false);
    expect(server.hub.rooms.has("secret-room")).toBe(false);
  });

  test('"*" allows every room, and leaving is always allowed', async () => {
    const c = await authed(server, "ra-star", ["*"], "anything");
    await waitFor(() => server.hub.sessions.get("ra-star")?.rid === "anything");
    const d = await authed(server, "ra-none", [], undefined);
    await waitFor(() => server.hub.sessions.has("ra-none"));
    d.send({ t: "JOIN", join: { rid: "" } });
    d.send({ t: "HB" });
    await waitFor(() => activity.filter((a) => a.uid === "ra-none" && a.type === "HEARD").length === 2);
    expect(d.closeInfo).toBeUndefined();
    c.close();
    d.close();
  });

  test("a rooms claim that is not an array of strings makes the token invalid (4401)", async () => {
    for (const rooms of ["lobby", [1, 2], { a: 1 }, ["ok", null]]) {
      const c = await authed(server, "ra-badclaim", rooms);
      expect(await c.waitClose()).toEqual({ code: 4401, reason: "rooms claim must be an array of strings" });
    }
  });

  test("without a claim, open mode allows any room", async () => {
    const c = await connect(server, "ra-open", { rid: "whatever" });
    expect(server.hub.sessions.get("ra-open")?.rid).toBe("whatever");
    c.close();
  });

  test("a refresh that narrows the claim closes a session sitting in a room it no longer allows", async () => {
    const c = await authed(server, "ra-narrow", ["team-42/*"], "team-42/a");
    await waitFor(() => server.hub.sessions.get("ra-narrow")?.rid === "team-42/a");
    c.send({ t: "AUTH", auth: { token: await token("ra-narrow", { rooms: ["lobby"] }) } });
    expect(await c.waitClose()).toEqual({ code: 4403, reason: "room no longer allowed" });
  });

  test("a refresh's claim applies from then on", async () => {
    const c = await authed(server, "ra-widen", ["lobby"], "lobby");
    await waitFor(() => server.hub.sessions.get("ra-widen")?.rid === "lobby");
    c.send({ t: "AUTH", auth: { token: await token("ra-widen", { rooms: ["lobby", "vip"] }) } });
    c.send({ t: "JOIN", join: { rid: "vip" } });
    await waitFor(() => server.hub.sessions.get("ra-widen")?.rid === "vip");
    c.close();
  });
});

describe("auth.rooms: claim", () => {
  let server: Server;
  beforeAll(async () => {
    server = await startTest("auth: {rooms: claim}");
  });
  afterAll(() => server.stop());

  test("a token without the claim may join no room but still gets Publish and world Broadcast", async () => {
    const c = await connect(server, "rc-plain");
    await api(server, "Publish", { uid: "rc-plain", evt: "direct" });
    await api(server, "Broadcast", { evt: "world" });
    expect(await c.waitPushes(2)).toEqual(["direct", "world"]);
    c.send({ t: "JOIN", join: { rid: "lobby" } });
    expect(await c.waitClose()).toEqual({ code: 4403, reason: "room not allowed" });
  });

  test("a token with the claim joins what it allows", async () => {
    const c = await authed(server, "rc-claim", ["lobby"], "lobby");
    await waitFor(() => server.hub.sessions.get("rc-claim")?.rid === "lobby");
    c.close();
  });
});
