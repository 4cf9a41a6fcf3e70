/**
 * The client SDK's transports: SSE on its own, and "auto", which falls back to SSE when a proxy
 * strips the WebSocket upgrade, tries WebSocket again later, and keeps its positions across every
 * switch (nothing lost, nothing twice).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { CometClient, type Gap, type PushPosition } from "../../src/client/index.ts";
import { api, startTest, token, waitFor } from "../helpers.ts";
import { StripProxy } from "../support/strip-proxy.ts";
import { client, closeClients } from "./recorded.ts";
import { closedPort, startOn, type TestServer } from "./servers.ts";

afterEach(closeClients);

function recorded(opts: Parameters<typeof client>[0]) {
  const { c, log } = client(opts);
  const seen: Array<{ evt: string; position?: PushPosition }> = [];
  const gaps: Gap[] = [];
  c.on("push", (evt, position) => seen.push({ evt, position })).on("gap", (g) => gaps.push(g));
  return { c, log, seen, gaps };
}

/** Publishes to the user, the room and the world in turn; returns what went to each stream. */
function publisher(server: TestServer, uid: string, rid: string) {
  const sent: Record<string, string[]> = { u: [], [`r:${rid}`]: [], w: [] };
  let i = 0;
  return {
    sent,
    async next(): Promise<void> {
      const evt = `m${i}`;
      const kind = i++ % 3;
      if (kind === 0) await api(server, "Publish", { uid, evt });
      else await api(server, "Broadcast", { rid: kind === 1 ? rid : "", evt });
      sent[kind === 0 ? "u" : kind === 1 ? `r:${rid}` : "w"]?.push(evt);
    },
    get count() {
      return i;
    },
  };
}

/** Every stream got exactly what was sent to it, in order, each once. */
function expectExactlyOnce(seen: Array<{ evt: string; position?: PushPosition }>, sent: Record<string, string[]>) {
  for (const [stream, evts] of Object.entries(sent)) {
    expect(seen.filter((s) => s.position?.stream === stream).map((s) => s.evt)).toEqual(evts);
  }
  expect(seen.length).toBe(Object.values(sent).reduce((n, e) => n + e.length, 0));
}

describe("CometClient transports", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest("history: {size: 1000}\nheartbeat: {interval: 1s}");
  });
  afterAll(() => server.stop());

  test('transport "sse": positions, a room change is a new stream, close ends the session', async () => {
    const uid = "sdk-sse";
    const { c, log, seen, gaps } = recorded({ url: server.ws, token: await token(uid), rid: "a", transport: "sse" });
    await c.connect();
    expect(c.transport).toBe("sse");
    await waitFor(() => server.hub.sessions.get(uid)?.rid === "a", "the session in a");
    await api(server, "Broadcast", { rid: "a", evt: "in a" });
    await api(server, "Publish", { uid, evt: "to me" });
    await waitFor(() => seen.length === 2, "2 pushes");
    expect(seen.map((s) => [s.evt, s.position?.stream])).toEqual([
      ["in a", "r:a"],
      ["to me", "u"],
    ]);
    c.join("b");
    await waitFor(() => server.hub.sessions.get(uid)?.rid === "b", "the session in b");
    await waitFor(() => c.state === "open", "open again");
    await api(server, "Broadcast", { rid: "b", evt: "in b" });
    await api(server, "Publish", { uid, evt: "to me in b" });
    await waitFor(() => seen.length === 4, "4 pushes");
    expect(seen.slice(2).map((s) => s.evt)).toEqual(["in b", "to me in b"]);
    // The user's stream went on across the room change: nothing replayed twice, no gap.
    expect(gaps).toEqual([]);
    expect(log.pushes.length).toBe(4);
    c.close();
    await waitFor(() => !server.hub.sessions.has(uid), "the session to end");
  });

  test('transport "sse": a refused token stops the client with 4401', async () => {
    const { c, log } = recorded({ url: server.ws, token: "not-a-jwt", transport: "sse" });
    await expect(c.connect()).rejects.toThrow(/4401/);
    expect(c.state).toBe("closed");
    expect(log.closes.at(-1)?.code).toBe(4401);
  });

  test('transport "auto" behind a proxy that strips Upgrade: SSE at once, WebSocket again later, nothing lost or repeated across the switches', async () => {
    const proxy = await StripProxy.to(server.port);
    try {
      const uid = "sdk-auto";
      const rid = "auto-room";
      const { c, seen, gaps } = recorded({
        url: proxy.ws,
        token: await token(uid),
        rid,
        transport: "auto",
        upgradeRetry: 600,
      });
      await c.connect();
      expect(proxy.stripped).toBe(1);
      expect(c.transport).toBe("sse");
      await waitFor(() => server.hub.sessions.get(uid)?.rid === rid, "the session");
      const pub = publisher(server, uid, rid);
      for (let i = 0; i < 30; i++) await pub.next();
      await waitFor(() => seen.length === 30, "30 over SSE");

      // The proxy lets upgrades through now: after upgradeRetry the client is on WebSocket,
      // while messages keep coming.
      proxy.strip = false;
      const deadline = Date.now() + 5000;
      while (c.transport !== "websocket" && Date.now() < deadline) {
        await pub.next();
        await Bun.sleep(5);
      }
      expect(c.transport).toBe("websocket");
      for (let i = 0; i < 30; i++) await pub.next();
      await waitFor(() => seen.length === pub.count, "everything after the switch to WebSocket", 5000);

      // Upgrades stripped again and the connection cut: the reconnect falls back to SSE.
      proxy.strip = true;
      proxy.cut();
      for (let i = 0; i < 30; i++) await pub.next();
      await waitFor(() => c.transport === "sse", "back on SSE", 5000);
      for (let i = 0; i < 30; i++) await pub.next();
      await waitFor(() => seen.length >= pub.count, "everything after the switch back to SSE", 5000);
      await Bun.sleep(100);
      expectExactlyOnce(seen, pub.sent);
      expect(gaps).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 20_000);

  test('transport "sse": a stream cut mid-flow reconnects with Last-Event-ID and misses nothing', async () => {
    const proxy = await StripProxy.to(server.port);
    try {
      const uid = "sdk-sse-cut";
      const rid = "cut-room";
      const { c, seen, gaps } = recorded({ url: proxy.ws, token: await token(uid), rid, transport: "sse" });
      await c.connect();
      await waitFor(() => server.hub.sessions.get(uid)?.rid === rid, "the session");
      const pub = publisher(server, uid, rid);
      for (let i = 0; i < 300; i++) {
        await pub.next();
        if (i === 150) proxy.cut();
      }
      await waitFor(() => seen.length >= pub.count, "all 300", 8000);
      await Bun.sleep(100);
      expectExactlyOnce(seen, pub.sent);
      expect(gaps).toEqual([]);
    } finally {
      await proxy.close();
    }
  }, 20_000);

  test('transport "auto" while the server is down tries WebSocket first again: once it is up, the client is on WebSocket', async () => {
    const port = await closedPort();
    const { c, log } = recorded({
      url: `ws://127.0.0.1:${port}/comet/Comet/Subscribe`,
      token: await token("sdk-auto-down"),
      transport: "auto",
      upgradeRetry: 60_000,
    });
    const opened = c.connect();
    await waitFor(() => log.closes.length >= 2, "a few failed attempts");
    const late = await startOn(port);
    try {
      await opened;
      expect(c.transport).toBe("websocket");
    } finally {
      c.close();
      await late.stop();
    }
  });

  test('transport "auto" where WebSocket works stays on WebSocket', async () => {
    const { c } = recorded({ url: server.ws, token: await token("sdk-auto-ws"), transport: "auto" });
    await c.connect();
    expect(c.transport).toBe("websocket");
  });

  test("rejects options it cannot use: a transport it does not know, an upgradeRetry that is not a duration", () => {
    expect(() => new CometClient({ url: server.ws, token: "t", transport: "pigeon" as "sse" })).toThrow(
      /transport: expected "websocket", "sse" or "auto", got "pigeon"/,
    );
    expect(() => new CometClient({ url: server.ws, token: "t", upgradeRetry: -1 })).toThrow(/upgradeRetry/);
  });
});
