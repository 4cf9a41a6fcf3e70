import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import WebSocket from "ws";
import { api, Client, connect, startTest, token, waitFor } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest("limits: {max_uplink_bytes: 256, uplink_rate: 5, max_connections: 20}");
});
afterAll(() => server.stop());

/** Connections the server ended with this code, from /metrics. */
async function disconnects(code: string): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const m = new RegExp(`^comet_disconnects_total\\{code="${code}"\\} (\\d+)$`, "m").exec(text);
  return Number(m?.[1] ?? 0);
}

describe("limits", () => {
  test("an uplink frame over max_uplink_bytes is closed 1009, and others are untouched", async () => {
    const other = await connect(server, "lim-other");
    const c = await connect(server, "lim-big");
    c.send({ t: "HB", pad: "x".repeat(300) });
    expect((await c.waitClose()).code).toBe(1009);
    await waitFor(() => !server.hub.sessions.has("lim-big"));
    await api(server, "Publish", { uid: "lim-other", evt: "fine" });
    expect(await other.waitPushes(1)).toEqual(["fine"]);
    other.close();
  });

  test("a frame of exactly max_uplink_bytes is accepted", async () => {
    const c = await connect(server, "lim-exact");
    const base = JSON.stringify({ t: "HB", pad: "" });
    c.send(JSON.stringify({ t: "HB", pad: "x".repeat(256 - base.length) }));
    c.send({ t: "JOIN", join: { rid: "exact" } });
    await waitFor(() => server.hub.sessions.get("lim-exact")?.rid === "exact");
    c.close();
  });

  test("more uplink frames than uplink_rate allows (burst 2x) are closed 4429", async () => {
    // One frame at a time, each seen handled before the next, so that nothing is still on its way
    // when the close comes: at 1 frame/s (burst 2), the bucket is empty by the third or so.
    const strict = await startTest("limits: {uplink_rate: 1}");
    try {
      const c = await connect(strict, "lim-rate");
      let handled = 0;
      for (let i = 0; i < 20 && !c.closeInfo; i++) {
        c.send({ t: "JOIN", join: { rid: `rate-${i}` } });
        await waitFor(() => strict.hub.sessions.get("lim-rate")?.rid === `rate-${i}` || c.closeInfo !== undefined);
        if (!c.closeInfo) handled++;
      }
      expect(await c.waitClose()).toEqual({ code: 4429, reason: "uplink rate limit exceeded" });
      // A burst of 2: AUTH and at least one frame after it went through.
      expect(handled).toBeGreaterThanOrEqual(1);
    } finally {
      await strict.stop();
    }
  });

  test("a flood is cut at the limit: closed 4429, and what came after the close is never handled", async () => {
    const heard: string[] = [];
    const off = server.hub.onActivity((a) => {
      if (a.uid === "lim-flood" && a.type === "HEARD") heard.push(a.type);
    });
    const before = await disconnects("4429");
    const c = await connect(server, "lim-flood");
    for (let i = 0; i < 30; i++) c.send({ t: "HB" });
    // The flooder itself sees the 4429, on Deno too (its adapter sends the close once the flood
    // pauses: README, "Deno").
    expect(await c.waitClose()).toEqual({ code: 4429, reason: "uplink rate limit exceeded" });
    off();
    expect(await disconnects("4429")).toBe(before + 1);
    expect(heard.length).toBeLessThan(30);
  });

  // Bun-only (test/support/suites.ts): Deno answers pings itself and never shows them to the adapter.
  test("a ping flood is closed 4429 like a frame flood, and a bystander is unharmed", async () => {
    const bystander = await connect(server, "lim-bystander");
    const before = await disconnects("4429");
    const ws = new WebSocket(server.ws);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    await new Promise((r) => ws.once("open", r));
    ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token("lim-pinger") } }));
    await waitFor(() => server.hub.sessions.has("lim-pinger"));
    // Counted, yet still answered: a ping within the rate gets its pong.
    ws.ping();
    await new Promise((r) => ws.once("pong", r));
    // uplink_rate 5 (burst 10): 30 pings at once are far past it.
    for (let i = 0; i < 30; i++) ws.ping();
    const late = new Promise<string>((r) => setTimeout(() => r("not closed within 3 s"), 3000));
    expect(await Promise.race([closed, late])).toBe(4429);
    await waitFor(() => !server.hub.sessions.has("lim-pinger"));
    expect(await disconnects("4429")).toBe(before + 1);
    await api(server, "Publish", { uid: "lim-bystander", evt: "still here" });
    expect(await bystander.waitPushes(1)).toEqual(["still here"]);
    expect(bystander.closeInfo).toBeUndefined();
    bystander.close();
  });

  test("a pong flood is closed 4429 like a ping flood, and a bystander is unharmed", async () => {
    const bystander = await connect(server, "lim-bystander2");
    const before = await disconnects("4429");
    const ws = new WebSocket(server.ws);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    await new Promise((r) => ws.once("open", r));
    ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token("lim-ponger") } }));
    await waitFor(() => server.hub.sessions.has("lim-ponger"));
    // Unsolicited pongs (the server never pings), in a loop as a flooding client sends them.
    const flood = setInterval(() => {
      if (ws.readyState === WebSocket.OPEN) for (let i = 0; i < 10; i++) ws.pong();
    }, 5);
    try {
      const late = new Promise<string>((r) => setTimeout(() => r("not closed within 3 s"), 3000));
      expect(await Promise.race([closed, late])).toBe(4429);
    } finally {
      clearInterval(flood);
    }
    await waitFor(() => !server.hub.sessions.has("lim-ponger"));
    expect(await disconnects("4429")).toBe(before + 1);
    await api(server, "Publish", { uid: "lim-bystander2", evt: "still here" });
    expect(await bystander.waitPushes(1)).toEqual(["still here"]);
    bystander.close();
  });

  test("uplinks within the rate are fine", async () => {
    const c = await connect(server, "lim-slow");
    for (let i = 0; i < 6; i++) {
      c.send({ t: "HB" });
      await Bun.sleep(220);
    }
    expect(c.closeInfo).toBeUndefined();
    c.close();
  });

  test("over max_connections: closed 4503, and a slot frees when someone leaves", async () => {
    await waitFor(() => server.gateway.connections.size === 0, "idle server");
    const held = await Promise.all(Array.from({ length: 20 }, (_, i) => connect(server, `lim-c${i}`)));
    const extra = new Client(server.ws);
    expect((await extra.waitClose()).code).toBe(4503);
    held[0]?.close();
    await waitFor(() => server.gateway.connections.size === 19);
    const again = await connect(server, "lim-again");
    expect(again.closeInfo).toBeUndefined();
    for (const c of [...held, again]) c.close();
  });
});
