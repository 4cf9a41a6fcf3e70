import { afterAll, beforeAll, expect, test } from "bun:test";
import { api, connect, startTest } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest();
});
afterAll(() => server.stop());

test("AUTH then one Publish reaches the client end to end", async () => {
  const c = await connect(server, "alice");
  const r = await api(server, "Publish", { uid: "alice", evt: "hello" });
  expect(r.status).toBe(200);
  expect(r.json).toEqual({});
  expect(await c.waitPushes(1)).toEqual(["hello"]);
  expect(c.raw[0]).toBe('{"t":"PUSH","push":{"evt":"hello"}}');
  c.close();
});
