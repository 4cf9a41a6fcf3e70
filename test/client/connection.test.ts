/**
 * The client SDK's connection: what it sends and receives on an open session, how close() and the
 * server's close codes end it, and how it reconnects after a loss, a restart or a closed port.
 * Heartbeats and token refresh: liveness.test.ts.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { CometClient } from "../../src/client/index.ts";
import DefaultExport from "../../src/client/index.ts";
import { api, startTest, token, waitFor } from "../helpers.ts";
import { client, closeClients } from "./recorded.ts";
import { closedPort, startOn, type TestServer } from "./servers.ts";

afterEach(closeClients);

let server: TestServer;
beforeAll(async () => {
  server = await startTest();
});
afterAll(() => server.stop());

describe("CometClient against a comet server", () => {
  test("is exported by name and as default", () => {
    expect(DefaultExport).toBe(CometClient);
  });

  test("a publish to its uid arrives as the evt, byte for byte", async () => {
    const { c, log } = client({ url: server.ws, token: await token("push-1") });
    await c.connect();
    await waitFor(() => server.hub.sessions.has("push-1"), "session push-1");
    const evt = 'héllo "😀" \\ \n';
    expect((await api(server, "Publish", { uid: "push-1", evt })).status).toBe(200);
    await waitFor(() => log.pushes.length === 1, "one push");
    expect(log.pushes).toEqual([evt]);
    expect(log.states).toEqual(["connecting", "open"]);
    expect(log.opens).toBe(1);
  });

  test("rid enters the room with AUTH; join() moves it to another room", async () => {
    const { c, log } = client({ url: server.ws, token: await token("join-1"), rid: "room-a" });
    await c.connect();
    await waitFor(() => server.hub.sessions.get("join-1")?.rid === "room-a", "join-1 in room-a");
    await api(server, "Broadcast", { rid: "room-a", evt: "to a" });
    await waitFor(() => log.pushes.length === 1, "push to room-a");
    c.join("room-b");
    await waitFor(() => server.hub.sessions.get("join-1")?.rid === "room-b", "join-1 in room-b");
    await api(server, "Broadcast", { rid: "room-a", evt: "to a again" });
    await api(server, "Broadcast", { rid: "room-b", evt: "to b" });
    await waitFor(() => log.pushes.length === 2, "push to room-b");
    expect(log.pushes).toEqual(["to a", "to b"]);
  });

  test("close() ends the session with a normal closure (1000), reports it and stops", async () => {
    const normalClosures = async () => {
      const m = /^comet_disconnects_total\{code="1000"\} (\d+)$/m.exec(
        await (await fetch(`${server.url}/metrics`)).text(),
      );
      return Number(m?.[1] ?? 0);
    };
    const { c, log } = client({ url: server.ws, token: await token("bye-1") });
    await c.connect();
    await waitFor(() => server.hub.sessions.has("bye-1"), "session bye-1");
    const before = await normalClosures();
    c.close();
    expect(c.state).toBe("closed");
    expect(log.closes).toEqual([{ code: 1000, reason: "closed by the client", state: "closed" }]);
    expect(log.states).toEqual(["connecting", "open", "closed"]);
    await waitFor(() => !server.hub.sessions.has("bye-1"), "session bye-1 gone");
    // What the server saw: 1000, not 1005 (a close frame without a code).
    expect(await normalClosures()).toBe(before + 1);
  });

  test("connect() rejects when the client is closed before a socket opens", async () => {
    const { c } = client({ url: `ws://127.0.0.1:${await closedPort()}/`, token: "t" });
    const opened = c.connect();
    c.close();
    await expect(opened).rejects.toThrow("closed 1000");
  });

  test("4401 (a bad token) is final: the close says why and no retry follows", async () => {
    let calls = 0;
    const { c, log } = client({
      url: server.ws,
      token: async () => {
        calls++;
        return token("bad-1", { secret: "not-the-secret-not-the-secret-0000" });
      },
    });
    c.connect();
    await waitFor(() => c.state === "closed", "closed");
    expect(log.closes).toEqual([{ code: 4401, reason: "token signature invalid", state: "closed" }]);
    // With a 20 ms backoff, a retry would long have called the token function again.
    await Bun.sleep(300);
    expect(calls).toBe(1);
    expect(log.opens).toBe(1);
  });

  test("4403 (a room the token does not allow) is final", async () => {
    const { c, log } = client({ url: server.ws, token: await token("room-1", { rooms: ["a"] }), rid: "b" });
    c.connect();
    await waitFor(() => c.state === "closed", "closed");
    expect(log.closes).toEqual([{ code: 4403, reason: "room not allowed", state: "closed" }]);
    await Bun.sleep(300);
    expect(log.opens).toBe(1);
  });

  test("4409 (replaced by a newer login of the same uid) is final, so the two do not evict each other", async () => {
    const first = client({ url: server.ws, token: await token("twin") });
    await first.c.connect();
    await waitFor(() => server.hub.sessions.has("twin"), "first twin");
    const held = server.hub.sessions.get("twin");
    const second = client({ url: server.ws, token: await token("twin") });
    await second.c.connect();
    await waitFor(() => first.c.state === "closed", "first twin closed");
    expect(first.log.closes).toEqual([
      { code: 4409, reason: "replaced by a newer session of the same uid", state: "closed" },
    ]);
    await waitFor(() => server.hub.sessions.get("twin") !== held, "second twin's session");
    const newer = server.hub.sessions.get("twin");
    await Bun.sleep(300);
    expect(server.hub.sessions.get("twin")).toBe(newer);
    expect(second.log.closes).toEqual([]);
    expect(second.c.state).toBe("open");
  });

  test("4410 (an operator disconnected the session) is final: the close has the operator's reason", async () => {
    let calls = 0;
    const { c, log } = client({
      url: server.ws,
      token: async () => {
        calls++;
        return token("kicked-1");
      },
    });
    await c.connect();
    await waitFor(() => server.hub.sessions.has("kicked-1"), "session kicked-1");
    for (const conn of server.gateway.connections) if (conn.uid === "kicked-1") conn.close(4410, "abuse reported");
    await waitFor(() => c.state === "closed", "closed");
    expect(log.closes).toEqual([{ code: 4410, reason: "abuse reported", state: "closed" }]);
    await Bun.sleep(300);
    expect(calls).toBe(1);
    expect(log.opens).toBe(1);
    expect(server.hub.sessions.has("kicked-1")).toBe(false);
  });

  test("a loss with any other code reconnects, calling the token function again", async () => {
    const tokens: string[] = [];
    const { c, log } = client({
      url: server.ws,
      token: async () => {
        tokens.push(await token("fresh-1", { exp: 3600 + tokens.length }));
        return tokens[tokens.length - 1] as string;
      },
      rid: "fresh-room",
    });
    await c.connect();
    await waitFor(() => server.hub.sessions.get("fresh-1")?.rid === "fresh-room", "session fresh-1");
    const before = server.hub.sessions.get("fresh-1");
    for (const conn of server.gateway.connections) if (conn.uid === "fresh-1") conn.close(4408, "heartbeat timeout");
    await waitFor(() => {
      const s = server.hub.sessions.get("fresh-1");
      return s !== undefined && s !== before && s.rid === "fresh-room";
    }, "a new session in the same room");
    expect(tokens.length).toBe(2);
    expect(tokens[0]).not.toBe(tokens[1]);
    expect(log.closes).toEqual([{ code: 4408, reason: "heartbeat timeout", state: "reconnecting" }]);
    expect(log.states).toEqual(["connecting", "open", "reconnecting", "open"]);
  });

  test("rejoins its room after the server restarts on the same port", async () => {
    const first = await startOn(0);
    const port = first.port;
    let second: TestServer | undefined;
    try {
      const { c, log } = client({ url: first.ws, token: await token("phoenix"), rid: "lobby" });
      await c.connect();
      await waitFor(() => first.hub.sessions.get("phoenix")?.rid === "lobby", "phoenix in lobby");
      await first.stop();
      await waitFor(() => c.state === "reconnecting", "reconnecting");
      second = await startOn(port);
      const restarted = second;
      await waitFor(() => restarted.hub.sessions.get("phoenix")?.rid === "lobby", "phoenix back in lobby", 5000);
      expect(c.state).toBe("open");
      await api(restarted, "Broadcast", { rid: "lobby", evt: "welcome back" });
      await waitFor(() => log.pushes.length === 1, "push after restart");
      expect(log.pushes).toEqual(["welcome back"]);
      expect(log.opens).toBeGreaterThanOrEqual(2);
    } finally {
      await second?.stop();
    }
  });
});

describe("CometClient against other peers", () => {
  test("keeps retrying a closed port and opens once a server listens there", async () => {
    const port = await closedPort();
    let late: TestServer | undefined;
    try {
      const { c, log } = client({
        url: `ws://127.0.0.1:${port}/comet/Comet/Subscribe`,
        token: await token("late-1"),
        rid: "r",
      });
      c.connect();
      await waitFor(() => log.closes.length >= 3, "three failed attempts");
      expect(c.state).toBe("reconnecting");
      expect(log.closes[0]?.code).toBe(1006);
      expect(log.states).toEqual(["connecting", "reconnecting"]);
      late = await startOn(port);
      const s = late;
      await waitFor(() => s.hub.sessions.get("late-1")?.rid === "r", "session once the server is up");
      expect(c.state).toBe("open");
    } finally {
      await late?.stop();
    }
  });

  test("rejects options it cannot use", () => {
    expect(() => new CometClient({ url: "http://x/", token: "t" })).toThrow("ws:// or wss://");
    expect(() => new CometClient({ url: "not a url", token: "t" })).toThrow("ws:// or wss://");
    expect(() => new CometClient({ url: "ws://x/", token: "t", backoffMax: -1 })).toThrow("backoffMax");
  });
});
