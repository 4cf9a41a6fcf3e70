/** POST /comet/Comet/Batch: many commands in one request, each answered on its own, in order. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, connect, startTest } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest("limits: {max_body_bytes: 4096, max_evt_bytes: 100, max_batch_commands: 5}");
});
afterAll(() => server.stop());

describe("Batch", () => {
  test("delivers the good commands in order; each bad one answers its own error, the rest go on", async () => {
    const ann = await connect(server, "b-ann", { rid: "b-room" });
    const bob = await connect(server, "b-bob");
    const r = await api(server, "Batch", {
      commands: [
        { publish: { uid: "b-ann", evt: "1" } },
        { broadcast: { rid: "b-room", evt: "2" } },
        { publish: { evt: "no uid" } },
        { broadcast: { evt: "é".repeat(51) } },
        { broadcast: { evt: "3" } },
      ],
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual({
      replies: [
        {},
        {},
        { error: { code: 400, detail: "uid is required" } },
        { error: { code: 413, detail: "evt over limits.max_evt_bytes (100 bytes, counted in UTF-8)" } },
        {},
      ],
    });
    expect(await ann.waitPushes(3)).toEqual(["1", "2", "3"]);
    expect(await bob.waitPushes(1)).toEqual(["3"]);
    ann.close();
    bob.close();
  });

  test("a command that is not exactly one of publish and broadcast is answered 400, alone", async () => {
    const cy = await connect(server, "b-cy");
    const r = await api(server, "Batch", {
      commands: [
        { send: { uid: "b-cy", evt: "x" } },
        { publish: { uid: "b-cy", evt: "x" }, broadcast: { evt: "y" } },
        "publish",
        { publish: ["b-cy"] },
        { publish: { uid: 7, evt: "x" } },
      ],
    });
    const detail = 'a command must be {"publish":{…}} or {"broadcast":{…}}';
    expect(r.json.replies).toEqual([
      { error: { code: 400, detail } },
      { error: { code: 400, detail } },
      { error: { code: 400, detail: `${detail}, got string` } },
      { error: { code: 400, detail: "publish must be an object, got array" } },
      { error: { code: 400, detail: "uid must be a string, got number" } },
    ]);
    const ok = await api(server, "Batch", { commands: [{ publish: { uid: "b-cy", evt: "ok" } }] });
    expect(ok.json).toEqual({ replies: [{}] });
    expect(await cy.waitPushes(1)).toEqual(["ok"]);
    cy.close();
  });

  test("the request as a whole: more commands than the limit 413, commands not a list 400, none is fine", async () => {
    const six = { commands: Array.from({ length: 6 }, () => ({ broadcast: { evt: "x" } })) };
    const big = await api(server, "Batch", six);
    expect(big.status).toBe(413);
    expect(big.json).toMatchObject({
      id: "comet.batch_too_large",
      detail: "6 commands, over limits.max_batch_commands (5)",
    });
    const notList = await api(server, "Batch", { commands: { publish: {} } });
    expect(notList.status).toBe(400);
    expect(notList.json.detail).toBe("commands must be an array, got object");
    expect((await api(server, "Batch", {})).json).toEqual({ replies: [] });
    expect((await api(server, "Batch", { commands: [] })).json).toEqual({ replies: [] });
  });

  test("the body limit, the admin token and the method apply as to every API call", async () => {
    const body = { commands: [{ broadcast: { evt: "x".repeat(90) } }] };
    const long = { commands: Array.from({ length: 5 }, () => ({ broadcast: { rid: "r".repeat(900), evt: "x" } })) };
    expect((await api(server, "Batch", body, "wrong")).status).toBe(401);
    const tooBig = await api(server, "Batch", long);
    expect([tooBig.status, tooBig.json.id]).toEqual([413, "comet.body_too_large"]);
    const get = await fetch(`${server.url}/comet/Comet/Batch`);
    expect(get.status).toBe(405);
  });
});
