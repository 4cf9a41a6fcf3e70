import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Client, connect, startTest, token, waitFor } from "../helpers.ts";

// A short interval so that the rules of docs/protocol.md play out in a fraction of a second.
const INTERVAL = 200;
let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest(`heartbeat: {interval: ${INTERVAL}ms}\nauth: {timeout: 300ms, jwt: {clock_tolerance: 0s}}`);
});
afterAll(() => server.stop());

describe("heartbeat", () => {
  test("a silent session gets HB probes, never before an interval of silence", async () => {
    // Taken before AUTH is sent: the server's silence is counted from when AUTH arrived there.
    const start = Date.now();
    const c = await connect(server, "hb-probe");
    await c.until(() => c.frames.some((f) => f.t === "HB"), 2000, "a probe");
    expect(Date.now() - start).toBeGreaterThanOrEqual(INTERVAL - 20);
    expect(c.raw.find((r) => r.includes("HB"))).toBe('{"t":"HB","hb":{}}');
    await c.until(() => c.frames.filter((f) => f.t === "HB").length >= 2, 2000, "a second probe");
    c.close();
  });

  test("a session that answers probes stays open past 3 intervals", async () => {
    const c = await connect(server, "hb-alive");
    let answered = 0;
    c.ws.addEventListener("message", (e) => {
      if (JSON.parse(String(e.data)).t === "HB") {
        answered++;
        c.send({ t: "HB" });
      }
    });
    await Bun.sleep(INTERVAL * 5);
    expect(answered).toBeGreaterThanOrEqual(2);
    expect(c.closeInfo).toBeUndefined();
    expect(server.hub.sessions.has("hb-alive")).toBe(true);
    c.close();
  });

  test("a session silent for more than 3 intervals is closed 4408", async () => {
    // Taken before AUTH is sent: the server counts silence from that uplink, which comes later.
    const start = Date.now();
    const c = await connect(server, "hb-dead");
    expect(await c.waitClose(3000)).toEqual({ code: 4408, reason: "heartbeat timeout" });
    expect(Date.now() - start).toBeGreaterThan(3 * INTERVAL);
    await waitFor(() => !server.hub.sessions.has("hb-dead"));
  });

  test("WebSocket pings do not count as uplinks", async () => {
    const c = await connect(server, "hb-ping");
    const timer = setInterval(() => (c.ws as unknown as { ping(): void }).ping(), 50);
    try {
      expect((await c.waitClose(3000)).code).toBe(4408);
    } finally {
      clearInterval(timer);
    }
  });
});

describe("timeouts and expiry", () => {
  test("no AUTH within auth.timeout: closed 4408", async () => {
    const c = new Client(server.ws);
    await c.opened;
    expect(await c.waitClose(2000)).toEqual({ code: 4408, reason: "auth timeout" });
  });

  test("a live session is closed 4401 once its token expires", async () => {
    const c = new Client(server.ws);
    await c.opened;
    c.send({ t: "AUTH", auth: { token: await token("exp-soon", { exp: 1 }) } });
    let answering = true;
    c.ws.addEventListener("message", () => answering && c.send({ t: "HB" }));
    await waitFor(() => server.hub.sessions.has("exp-soon"));
    expect(await c.waitClose(4000)).toEqual({ code: 4401, reason: "token expired" });
    answering = false;
  });

  test("re-AUTH with a later exp keeps the session past the first token's expiry", async () => {
    const c = new Client(server.ws);
    await c.opened;
    c.send({ t: "AUTH", auth: { token: await token("exp-refresh", { exp: 1 }) } });
    c.send({ t: "AUTH", auth: { token: await token("exp-refresh", { exp: 3600 }) } });
    c.ws.addEventListener("message", () => c.closeInfo || c.send({ t: "HB" }));
    await Bun.sleep(2100);
    expect(c.closeInfo).toBeUndefined();
    expect(server.hub.sessions.has("exp-refresh")).toBe(true);
    c.close();
  });
});
