/**
 * The client SDK keeping a session alive: it answers the server's heartbeat probes, declares a
 * silent link dead after 3 heartbeat intervals and reconnects, and refreshes its token before it
 * expires. Connection, close codes and reconnects: connection.test.ts.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { startTest, token, waitFor } from "../helpers.ts";
import { client, closeClients } from "./recorded.ts";
import { muteTcpServer, silentServer } from "./servers.ts";

afterEach(closeClients);

describe("CometClient against a comet server", () => {
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
        positions: true,
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
      // A reconnect recovers; with no position known yet, from an empty one (answered false: a gap).
      expect(peer.uplinks[1]).toEqual([
        '{"t":"AUTH","auth":{"token":"tok"},"positions":true,"recover":{"u":{"epoch":"","seq":0},"w":{"epoch":"","seq":0}}}',
      ]);
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
});
