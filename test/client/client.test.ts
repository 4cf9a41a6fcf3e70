import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { CometClient, type CometClientOptions, type CometState } from "../../src/client/index.ts";
import DefaultExport from "../../src/client/index.ts";
import { api, startTest, token, waitFor } from "../helpers.ts";
import { closedPort, muteTcpServer, silentServer, startOn, type TestServer } from "./servers.ts";

interface Log {
  pushes: string[];
  closes: Array<{ code: number; reason: string; state: CometState }>;
  states: CometState[];
  opens: number;
}

const clients: CometClient[] = [];

/** A client whose events are recorded; closed after each test. Fast backoff unless a test says otherwise. */
function client(opts: CometClientOptions): { c: CometClient; log: Log } {
  const c = new CometClient({ backoffBase: 20, backoffMax: 100, ...opts });
  clients.push(c);
  const log: Log = { pushes: [], closes: [], states: [], opens: 0 };
  c.on("push", (evt) => log.pushes.push(evt))
    .on("close", (code, reason) => log.closes.push({ code, reason, state: c.state }))
    .on("state", (s) => log.states.push(s))
    .on("open", () => log.opens++);
  return { c, log };
}

afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

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

  test("answers the server's probes, so a quiet session outlives 3 heartbeat intervals", async () => {
    const quick = await startTest("heartbeat:\n  interval: 100ms\n");
    try {
      const { c, log } = client({ url: quick.ws, token: await token("quiet-1"), heartbeatInterval: 100 });
      await c.connect();
      await waitFor(() => quick.hub.sessions.has("quiet-1"), "session quiet-1");
      const session = quick.hub.sessions.get("quiet-1");
      // Without answers the server closes 4408 after 300 ms (plus one sweep); wait well past that.
      await Bun.sleep(900);
      expect(log.closes).toEqual([]);
      expect(quick.hub.sessions.get("quiet-1")).toBe(session);
    } finally {
      await quick.stop();
    }
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

  test("refreshes a token from its function before it expires, so the session outlives the first token", async () => {
    const strict = await startTest("auth:\n  jwt:\n    clock_tolerance: 0s\n");
    try {
      const exps: number[] = [];
      const { c, log } = client({
        url: strict.ws,
        token: async () => {
          const t = await token("refresh-1", { exp: 2 });
          exps.push(JSON.parse(atob(t.split(".")[1] as string)).exp * 1000);
          return t;
        },
      });
      await c.connect();
      await waitFor(() => strict.hub.sessions.has("refresh-1"), "session refresh-1");
      const session = strict.hub.sessions.get("refresh-1");
      await waitFor(() => exps.length >= 2, "a second token", 3000);
      // The server's sweep runs every second: past the first token's exp plus one sweep, an
      // un-refreshed session would have been closed 4401.
      await Bun.sleep(Math.max(0, (exps[0] as number) + 1300 - Date.now()));
      expect(log.closes).toEqual([]);
      expect(strict.hub.sessions.get("refresh-1")).toBe(session);
    } finally {
      await strict.stop();
    }
  });
});

describe("CometClient against other peers", () => {
  test("answers an HB probe with {t: HB}", async () => {
    const peer = silentServer();
    try {
      const { c } = client({ url: peer.url, token: "tok", rid: "r" });
      await c.connect();
      await waitFor(() => peer.uplinks[0]?.length === 1, "AUTH");
      expect(JSON.parse(peer.uplinks[0]?.[0] as string)).toEqual({
        t: "AUTH",
        auth: { token: "tok" },
        join: { rid: "r" },
      });
      peer.sockets[0]?.send('{"t":"HB","hb":{}}');
      await waitFor(() => peer.uplinks[0]?.length === 2, "HB answer");
      expect(peer.uplinks[0]?.[1]).toBe('{"t":"HB"}');
    } finally {
      await peer.stop();
    }
  });

  test("a link that brings no frame for 3 heartbeat intervals is dead: it reconnects", async () => {
    const peer = silentServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", heartbeatInterval: 30 });
      await c.connect();
      await waitFor(() => peer.uplinks.length === 2 && peer.uplinks[1]?.length === 1, "a second connection's AUTH");
      expect(log.closes[0]?.code).toBe(4408);
      expect(log.closes[0]?.reason).toContain("3 × heartbeat interval");
      expect(log.closes[0]?.state).toBe("reconnecting");
      expect(peer.uplinks[1]).toEqual(['{"t":"AUTH","auth":{"token":"tok"}}']);
    } finally {
      await peer.stop();
    }
  });

  test("a handshake that never completes counts as a dead link too: it retries", async () => {
    const peer = muteTcpServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", heartbeatInterval: 30 });
      c.connect();
      await waitFor(() => peer.accepted >= 2, "a second TCP connection");
      expect(log.closes[0]).toEqual({
        code: 4408,
        reason: "no answer to the WebSocket handshake for 90 ms (3 × heartbeat interval)",
        state: "reconnecting",
      });
      expect(log.opens).toBe(0);
    } finally {
      peer.stop();
    }
  });

  test("a link that keeps bringing probes is not declared dead", async () => {
    const peer = silentServer();
    try {
      const { c, log } = client({ url: peer.url, token: "tok", heartbeatInterval: 100 });
      await c.connect();
      await waitFor(() => peer.sockets.length === 1, "connection");
      const probe = setInterval(() => peer.sockets[0]?.send('{"t":"HB","hb":{}}'), 20);
      // 3 intervals of silence would be 300 ms: probes every 20 ms over twice that must keep it alive.
      await Bun.sleep(600);
      clearInterval(probe);
      expect(log.closes).toEqual([]);
      expect(peer.uplinks.length).toBe(1);
    } finally {
      await peer.stop();
    }
  });

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
