import { describe, expect, test } from "bun:test";
import net from "node:net";
import type { Activity } from "../../src/hub/activity.ts";
import { api, Client, connect, startTest, token, waitFor } from "../helpers.ts";

type Server = Awaited<ReturnType<typeof startTest>>;

/** A WebSocket client on a raw TCP socket that authenticates, then stops reading. */
async function stalledClient(server: Server, uid: string, rid: string): Promise<net.Socket> {
  const { port } = server;
  const sock = net.connect(port, "127.0.0.1");
  await new Promise((r) => sock.once("connect", r));
  sock.write(
    "GET /comet/Comet/Subscribe HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  await new Promise((r) => sock.once("data", r));
  // One masked client text frame carrying AUTH with a join.
  const payload = Buffer.from(JSON.stringify({ t: "AUTH", auth: { token: await token(uid) }, join: { rid } }));
  const mask = Buffer.from([1, 2, 3, 4]);
  const header =
    payload.length < 126
      ? Buffer.from([0x81, 0x80 | payload.length])
      : Buffer.from([0x81, 0x80 | 126, payload.length >> 8, payload.length & 0xff]);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  sock.write(Buffer.concat([header, mask, masked]));
  await waitFor(() => server.hub.sessions.get(uid)?.rid === rid);
  sock.pause();
  return sock;
}

describe("slow consumers", () => {
  test("a client that does not read is terminated at max_send_buffer; the room keeps getting everything", async () => {
    const server = await startTest("limits: {max_send_buffer: 262144, max_evt_bytes: 300000, max_body_bytes: 400000}");
    try {
      const fast = await connect(server, "fast", { rid: "big" });
      const slow = await stalledClient(server, "slow", "big");
      const evt = "x".repeat(256 * 1024);
      let sentBeforeDrop = 0;
      for (let i = 0; i < 120; i++) {
        expect((await api(server, "Broadcast", { rid: "big", evt })).status).toBe(200);
        if (server.hub.sessions.has("slow")) sentBeforeDrop++;
      }
      await waitFor(() => !server.hub.sessions.has("slow"), "slow consumer dropped", 5000);
      // 30 MiB went to the room. The stalled client was dropped once the kernel's socket buffers
      // and the 256 KiB of max_send_buffer were full, not after the server had queued it all.
      expect(sentBeforeDrop).toBeLessThan(80);
      await fast.waitPushes(120, 10_000);
      expect(fast.pushes().length).toBe(120);
      expect(fast.closeInfo).toBeUndefined();
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('comet_disconnects_total{code="1006"} 1');
      slow.destroy();
      fast.close();
    } finally {
      await server.stop();
    }
  });

  test("a stalled client is terminated on unicast Publish too", async () => {
    const server = await startTest("limits: {max_send_buffer: 65536, max_evt_bytes: 300000, max_body_bytes: 400000}");
    try {
      const slow = await stalledClient(server, "slow1", "r");
      const evt = "y".repeat(128 * 1024);
      for (let i = 0; i < 100 && server.hub.sessions.has("slow1"); i++)
        await api(server, "Publish", { uid: "slow1", evt });
      await waitFor(() => !server.hub.sessions.has("slow1"), "slow consumer dropped", 5000);
      slow.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe("lost connections", () => {
  test("a client gone without a close frame ends its session and is counted as 1006", async () => {
    const server = await startTest();
    try {
      const gone = await stalledClient(server, "gone", "r");
      gone.destroy();
      await waitFor(() => !server.hub.sessions.has("gone"), "the session to end");
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      expect(metrics).toContain('comet_disconnects_total{code="1006"} 1');
    } finally {
      await server.stop();
    }
  });
});

describe("admission", () => {
  const upgrade = (server: Server, headers: Record<string, string>) =>
    fetch(server.ws.replace("ws", "http"), {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
        ...headers,
      },
    });

  test("allowed_origins: a browser upgrade from another Origin gets 403; listed or absent Origin passes", async () => {
    const server = await startTest("allowed_origins: [https://app.example.com]");
    try {
      const denied = await upgrade(server, { origin: "https://evil.example.com" });
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { id: string }).id).toBe("comet.forbidden_origin");
      expect((await upgrade(server, { origin: "https://APP.example.com" })).status).toBe(101);
      const c = new Client(server.ws);
      await c.opened;
      c.close();
    } finally {
      await server.stop();
    }
  });

  test("connects_per_ip_per_second: the next upgrade from that address gets 429", async () => {
    const server = await startTest("limits: {connects_per_ip_per_second: 3}");
    try {
      const codes: number[] = [];
      for (let i = 0; i < 4; i++) codes.push((await upgrade(server, {})).status);
      expect(codes).toEqual([101, 101, 101, 429]);
      await Bun.sleep(1100);
      expect((await upgrade(server, {})).status).toBe(101);
    } finally {
      await server.stop();
    }
  });

  test("X-Forwarded-For is believed only from trusted_proxies", async () => {
    const trusting = await startTest("limits: {connects_per_ip_per_second: 1}\ntrusted_proxies: [127.0.0.0/8]");
    const untrusting = await startTest("limits: {connects_per_ip_per_second: 1}\ntrusted_proxies: [10.9.9.9]");
    try {
      // Behind a trusted proxy, two clients have their own budgets.
      expect((await upgrade(trusting, { "x-forwarded-for": "203.0.113.1" })).status).toBe(101);
      expect((await upgrade(trusting, { "x-forwarded-for": "203.0.113.2, 127.0.0.5" })).status).toBe(101);
      expect((await upgrade(trusting, { "x-forwarded-for": "203.0.113.1" })).status).toBe(429);
      // From an untrusted peer the header is ignored: one address, one budget.
      expect((await upgrade(untrusting, { "x-forwarded-for": "203.0.113.1" })).status).toBe(101);
      expect((await upgrade(untrusting, { "x-forwarded-for": "203.0.113.2" })).status).toBe(429);
    } finally {
      await trusting.stop();
      await untrusting.stop();
    }
  });

  test("a flood of idle upgrades is closed by the auth timeout while a real client is served", async () => {
    const server = await startTest("auth: {timeout: 300ms}");
    try {
      const idle = Array.from({ length: 200 }, () => new Client(server.ws));
      await Promise.all(idle.map((c) => c.opened));
      const real = await connect(server, "real-one");
      await api(server, "Publish", { uid: "real-one", evt: "served" });
      expect(await real.waitPushes(1)).toEqual(["served"]);
      const closes = await Promise.all(idle.map((c) => c.waitClose(3000)));
      expect(new Set(closes.map((c) => c.code))).toEqual(new Set([4408]));
      expect(server.gateway.connections.size).toBe(1);
      real.close();
    } finally {
      await server.stop();
    }
  });
});

describe("graceful drain", () => {
  test("not ready at once, new upgrades 503, unauthenticated closed at once, sessions closed 1001 spread over the drain", async () => {
    const server = await startTest("shutdown: {drain: 600ms}");
    const activity: Activity[] = [];
    server.hub.onActivity((a) => activity.push(a));
    const sessions = await Promise.all(
      Array.from({ length: 12 }, (_, i) => connect(server, `drain-${i}`, { rid: "d" })),
    );
    const stranger = new Client(server.ws);
    await stranger.opened;
    const closedAt: number[] = [];
    for (const c of sessions) c.closed.then(() => closedAt.push(Date.now()));
    const started = Date.now();
    const drained = server.drain();
    // At once in this process; a server in another process has to hear of it first.
    await waitFor(() => server.gateway.draining, "the drain to start");
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "not ready", reason: "shutting down" });
    expect(await stranger.waitClose()).toEqual({ code: 1001, reason: "server shutting down" });
    const late = await fetch(server.ws.replace("ws", "http"), {
      headers: {
        upgrade: "websocket",
        connection: "Upgrade",
        "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
        "sec-websocket-version": "13",
      },
    });
    expect(late.status).toBe(503);
    // The HTTP API keeps serving while sessions drain.
    expect((await api(server, "Broadcast", { rid: "d", evt: "still serving" })).status).toBe(200);
    await drained;
    const codes = await Promise.all(sessions.map((c) => c.closed));
    expect(new Set(codes.map((c) => c.code))).toEqual(new Set([1001]));
    // Spread, not all at once: the last close comes well after the first.
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    expect(spread).toBeGreaterThanOrEqual(300);
    expect(Math.min(...closedAt) - started).toBeLessThan(300);
    expect(activity.filter((a) => a.type === "OFFLINE").length).toBe(12);
    expect(activity.filter((a) => a.type === "LEAVE_ROOM").length).toBe(12);
  });
});
