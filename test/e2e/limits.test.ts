import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, Client, connect, startTest, waitFor } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest("limits: {max_uplink_bytes: 256, uplink_rate: 5, max_connections: 20}");
});
afterAll(() => server.stop());

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
    const c = await connect(server, "lim-rate");
    for (let i = 0; i < 30; i++) c.send({ t: "HB" });
    expect(await c.waitClose()).toEqual({ code: 4429, reason: "uplink rate limit exceeded" });
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
