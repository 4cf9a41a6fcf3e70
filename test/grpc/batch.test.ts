/** Batch over gRPC: the same commands, rules and replies as POST /comet/Comet/Batch. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { api, connect } from "../helpers.ts";
import { type CometClient, call, grpcClient, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

let server: TestServer;
let client: CometClient;
beforeAll(async () => {
  server = await startGrpcTest("limits: {max_evt_bytes: 64, max_body_bytes: 2048, max_batch_commands: 4}");
  client = grpcClient(server);
});
afterAll(async () => {
  client.close();
  await server.stop();
});

/** The stub fills proto3 defaults (an absent error reads null): the answer as the HTTP API writes it. */
const asHttp = (res: unknown) => ({
  replies: (res as { replies: Array<{ error: unknown }> }).replies.map((r) => (r.error ? { error: r.error } : {})),
});

test("each command answers on its own, in order, with the same words as the HTTP API; sessions of both transports get theirs", async () => {
  const g = await subscribe(server, client, "gb-g", { rid: "gb-room" });
  const w = await connect(server, "gb-w", { rid: "gb-room" });
  const commands = [
    { publish: { uid: "gb-g", evt: "to g" } },
    { publish: { evt: "no uid" } },
    { broadcast: { rid: "gb-room", evt: "é".repeat(33) } },
    { broadcast: { rid: "gb-room", evt: "to room" } },
  ];
  const { err, res } = await call(client, "Batch", { commands });
  expect(err).toBeNull();
  const want = {
    replies: [
      {},
      { error: { code: 400, detail: "uid is required" } },
      { error: { code: 413, detail: "evt over limits.max_evt_bytes (64 bytes, counted in UTF-8)" } },
      {},
    ],
  };
  expect(asHttp(res)).toEqual(want);
  expect(await g.waitPushes(2)).toEqual(["to g", "to room"]);
  expect(await w.waitPushes(1)).toEqual(["to room"]);
  expect((await api(server, "Batch", { commands })).json).toEqual(want);
  g.call.end();
  w.close();
});

test("an entry with neither command is answered 400; too many commands is RESOURCE_EXHAUSTED for the whole call", async () => {
  const { res } = await call(client, "Batch", { commands: [{}, { broadcast: { evt: "x" } }] });
  expect(asHttp(res)).toEqual({
    replies: [{ error: { code: 400, detail: 'a command must be {"publish":{…}} or {"broadcast":{…}}' } }, {}],
  });
  const five = { commands: Array.from({ length: 5 }, () => ({ broadcast: { evt: "x" } })) };
  const { err } = await call(client, "Batch", five);
  expect([err?.code, err?.details]).toEqual([
    status.RESOURCE_EXHAUSTED,
    "5 commands, over limits.max_batch_commands (4)",
  ]);
  const unauth = await call(client, "Batch", { commands: [] }, "wrong");
  expect(unauth.err?.code).toBe(status.UNAUTHENTICATED);
});
