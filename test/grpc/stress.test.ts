/**
 * Thousands of concurrent calls, bounded in time. Under Bun, node:http2 ends streams in a
 * recursion (`_final` → flush → the write callbacks of the other streams of the connection →
 * their `_final` ...) as deep as the streams that finish in one flush of one connection. With
 * ~10,000 unary calls in flight on one connection the client's stack overflows first; with ~8,000
 * allowed per connection, the server's overflows too. The server therefore advertises
 * SETTINGS_MAX_CONCURRENT_STREAMS = 1000: clients queue the rest, and neither side gets deep.
 * Without that setting this file fails with "Maximum call stack size exceeded".
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import { type ServiceError, status } from "@grpc/grpc-js";
import { MAX_STREAMS_PER_CONNECTION } from "../../src/grpc/server.ts";
import { api, waitFor } from "../helpers.ts";
import { adminMetadata, type CometClient, grpcClient, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startGrpcTest("limits: {max_connections: 5000}");
});
afterAll(() => server.stop());

function publishMany(client: CometClient, n: number, uid: string): Promise<Map<number, number>> {
  const md = adminMetadata();
  const codes = new Map<number, number>();
  return Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve) =>
          client.Publish({ uid, evt: String(i) }, md, (err: ServiceError | null) => {
            const code = err ? err.code : status.OK;
            codes.set(code, (codes.get(code) ?? 0) + 1);
            resolve();
          }),
        ),
    ),
  ).then(() => codes);
}

describe("concurrent calls", () => {
  test("the server advertises its per-connection stream limit", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    await new Promise<void>((resolve, reject) => {
      session.once("remoteSettings", () => resolve());
      session.once("error", reject);
    });
    expect(session.remoteSettings.maxConcurrentStreams).toBe(MAX_STREAMS_PER_CONNECTION);
    session.close();
  });

  test("10,000 unary calls at once on one connection all succeed, and a session hears every one", async () => {
    const client = grpcClient(server);
    const s = await subscribe(server, client, "stress-target");
    const codes = await publishMany(client, 10_000, "stress-target");
    expect([...codes]).toEqual([[status.OK, 10_000]]);
    const got = await s.waitPushes(10_000, 15_000);
    expect(new Set(got).size).toBe(10_000);
    s.call.end();
    client.close();
  }, 30_000);

  test("4 connections with 2,500 calls each at once, while 200 gRPC sessions hold their streams", async () => {
    const holders = Array.from({ length: 5 }, () => grpcClient(server, { "grpc.use_local_subchannel_pool": 1 }));
    const sessions = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        subscribe(server, holders[i % 5] as CometClient, `stress-s${i}`, { rid: "all" }),
      ),
    );
    const callers = Array.from({ length: 4 }, () => grpcClient(server, { "grpc.use_local_subchannel_pool": 1 }));
    const results = await Promise.all(callers.map((c, i) => publishMany(c, 2500, `stress-s${i}`)));
    for (const codes of results) expect([...codes]).toEqual([[status.OK, 2500]]);
    // Still serving: one room broadcast reaches all 200 streams.
    expect((await api(server, "Broadcast", { rid: "all", evt: "after the storm" })).status).toBe(200);
    await waitFor(() => sessions.every((s) => s.pushes().at(-1) === "after the storm"), "broadcast to 200", 10_000);
    expect(sessions[0]?.pushes().length).toBe(2501);
    for (const s of sessions) s.call.end();
    for (const c of [...holders, ...callers]) c.close();
    await waitFor(() => server.hub.sessions.size === 0, "sessions ended", 10_000);
  }, 30_000);
});
