/** Presence over gRPC: the same rules and answer as POST /comet/Comet/Presence. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { api, connect } from "../helpers.ts";
import { type CometClient, call, grpcClient, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

let server: TestServer;
let client: CometClient;
beforeAll(async () => {
  server = await startGrpcTest();
  client = grpcClient(server);
});
afterAll(async () => {
  client.close();
  await server.stop();
});

test("by uids and by rid: the answer of the HTTP API, sessions of both transports included", async () => {
  const g = await subscribe(server, client, "gp-g", { rid: "gp-room" });
  const w = await connect(server, "gp-w", { rid: "gp-room" });
  const byUids = await call(client, "Presence", { uids: ["gp-w", "gp-g", "gp-none"] });
  expect(byUids.err).toBeNull();
  const http = (await api(server, "Presence", { uids: ["gp-w", "gp-g", "gp-none"] })).json;
  expect(byUids.res).toEqual(http);
  expect((http.online as Array<{ uid: string }>).map((o) => o.uid)).toEqual(["gp-g", "gp-w"]);
  const byRid = await call(client, "Presence", { rid: "gp-room" });
  expect(byRid.res).toEqual(http);
  g.call.end();
  w.close();
  await w.closed;
});

test("a bad request is INVALID_ARGUMENT with the HTTP API's words; a wrong token UNAUTHENTICATED", async () => {
  const cases: Array<[object, string]> = [
    [{}, "uids or rid is required"],
    [{ uids: ["a"], rid: "r" }, "give uids or rid, not both"],
    [{ uids: [""] }, 'uids[0] must be a non-empty string, got ""'],
    [{ uids: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, "uids: at most 1000, got 1001"],
  ];
  for (const [req, detail] of cases) {
    const { err } = await call(client, "Presence", req);
    expect([err?.code, err?.details]).toEqual([status.INVALID_ARGUMENT, detail]);
  }
  const { err } = await call(client, "Presence", { uids: ["a"] }, "wrong");
  expect(err?.code).toBe(status.UNAUTHENTICATED);
});
