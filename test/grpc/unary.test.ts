/** Publish, Broadcast and DumpSession over gRPC: the admin token as metadata, the HTTP API's checks. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type ServiceError, status } from "@grpc/grpc-js";
import { ADMIN, api, connect } from "../helpers.ts";
import {
  adminMetadata,
  type CometClient,
  call,
  grpcClient,
  startGrpcTest,
  subscribe,
  type TestServer,
} from "./helpers.ts";

let server: TestServer;
let client: CometClient;
beforeAll(async () => {
  server = await startGrpcTest("limits: {max_evt_bytes: 64, max_body_bytes: 1024}");
  client = grpcClient(server);
});
afterAll(async () => {
  client.close();
  await server.stop();
});

const failure = async (p: ReturnType<typeof call>) => {
  const { err } = await p;
  return err && { code: err.code, details: err.details };
};

describe("the admin token", () => {
  test.each(["Publish", "Broadcast", "DumpSession"] as const)(
    "%s without a token, or with a wrong one: UNAUTHENTICATED",
    async (m) => {
      const req = m === "Publish" ? { uid: "u", evt: "x" } : {};
      const want = { code: status.UNAUTHENTICATED, details: "missing or wrong admin bearer token" };
      expect(await failure(call(client, m, req, null))).toEqual(want);
      expect(await failure(call(client, m, req, "not-the-token"))).toEqual(want);
    },
  );

  test("a refused call delivers nothing", async () => {
    const s = await subscribe(server, client, "un-guard");
    await call(client, "Publish", { uid: "un-guard", evt: "no" }, "wrong");
    await call(client, "Publish", { uid: "un-guard", evt: "yes" });
    expect(await s.waitPushes(1)).toEqual(["yes"]);
    s.call.end();
  });
});

test("50 quick wrong tokens from one address: RESOURCE_EXHAUSTED past 20; the right token, among them, is OK", async () => {
  // A server of its own: the failures below must not limit the other tests' wrong tokens.
  const own = await startGrpcTest();
  const c = grpcClient(own);
  try {
    const sent = Array.from({ length: 52 }, (_, i) => (i === 25 || i === 51 ? ADMIN : `wrong-token-number-${i}`));
    const got = await Promise.all(sent.map((tok) => call(c, "DumpSession", {}, tok)));
    expect(got.filter((_, i) => sent[i] === ADMIN).map((g) => g.err)).toEqual([null, null]);
    const codes = got.filter((_, i) => sent[i] !== ADMIN).map((g) => g.err?.code);
    expect(codes.every((code) => code === status.UNAUTHENTICATED || code === status.RESOURCE_EXHAUSTED)).toBe(true);
    const limited = got.find((g) => g.err?.code === status.RESOURCE_EXHAUSTED);
    expect(limited?.err?.details).toBe("too many failed admin authentications from this address: retry in a second");
    // Counted in the one counter the HTTP API also counts its failures in.
    const text = await (await fetch(`${own.url}/metrics`)).text();
    const n = codes.filter((code) => code === status.RESOURCE_EXHAUSTED).length;
    expect(text).toContain(`comet_admin_auth_failures_total{outcome="rate_limited"} ${n}`);
    expect(text).toContain(`comet_admin_auth_failures_total{outcome="unauthorized"} ${50 - n}`);
  } finally {
    c.close();
    await own.stop();
  }
});

describe("the checks of the HTTP API", () => {
  test("Publish without a uid (or with an empty one): INVALID_ARGUMENT", async () => {
    const want = { code: status.INVALID_ARGUMENT, details: "uid is required" };
    expect(await failure(call(client, "Publish", { evt: "x" }))).toEqual(want);
    expect(await failure(call(client, "Publish", { uid: "", evt: "x" }))).toEqual(want);
  });

  test("an evt over limits.max_evt_bytes, counted in UTF-8: RESOURCE_EXHAUSTED, as HTTP answers 413", async () => {
    const want = {
      code: status.RESOURCE_EXHAUSTED,
      details: "evt over limits.max_evt_bytes (64 bytes, counted in UTF-8)",
    };
    const evt = "é".repeat(33); // 33 characters, 66 bytes
    expect(await failure(call(client, "Publish", { uid: "u", evt }))).toEqual(want);
    expect(await failure(call(client, "Broadcast", { evt }))).toEqual(want);
    expect((await api(server, "Broadcast", { evt })).json.detail).toBe(want.details);
    expect(await failure(call(client, "Broadcast", { evt: "é".repeat(32) }))).toBeNull();
  });

  test("a message over limits.max_body_bytes: RESOURCE_EXHAUSTED, never decoded", async () => {
    // 1,027 bytes: under the Subscribe limit (4 KiB), over this one.
    expect(await failure(call(client, "Broadcast", { rid: "r".repeat(1020), evt: "x" }))).toEqual({
      code: status.RESOURCE_EXHAUSTED,
      details: "message over limits.max_body_bytes (1024 bytes)",
    });
    expect(await failure(call(client, "Broadcast", { rid: "r".repeat(1010), evt: "x" }))).toBeNull();
    // Past what any method takes, the library refuses it before reading it all.
    expect((await call(client, "Broadcast", { rid: "r".repeat(5000), evt: "x" })).err?.code).toBe(
      status.RESOURCE_EXHAUSTED,
    );
  });

  test("bytes that are not a PublishReq: INVALID_ARGUMENT, as HTTP answers bad JSON 400", async () => {
    const { err } = await new Promise<{ err: ServiceError | null }>((resolve) =>
      client.makeUnaryRequest(
        "/comet.Comet/Publish",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x1a, 0x05, 0x61]), // a field announcing 5 bytes where 1 follows
        adminMetadata(),
        (e) => resolve({ err: e }),
      ),
    );
    expect(err && { code: err.code, details: err.details }).toEqual({
      code: status.INVALID_ARGUMENT,
      details: "malformed protobuf",
    });
  });

  test("Publish to a uid not here and Broadcast to an empty room succeed, delivered to no one", async () => {
    expect(await call(client, "Publish", { uid: "nobody", evt: "x" })).toEqual({ err: null, res: {} });
    expect(await call(client, "Broadcast", { rid: "empty", evt: "x" })).toEqual({ err: null, res: {} });
  });
});

/** A DumpSession answer without the `transport: ""` that a stub with proto3 defaults fills in. */
function withoutEmptyTransport(res: unknown): unknown {
  return JSON.parse(JSON.stringify(res), (k, v) => (k === "transport" && v === "" ? undefined : v));
}

describe("DumpSession", () => {
  test("answers what the HTTP API answers, sessions of both transports alike", async () => {
    const g = await subscribe(server, client, "un-dump-g", { rid: "d" });
    const w = await connect(server, "un-dump-w", { rid: "d" });
    const { err, res } = await call(client, "DumpSession", {});
    expect(err).toBeNull();
    const http = (await api(server, "DumpSession", {})).json;
    // The stub fills proto3 defaults (defaults: true), so the opt-in field 4 reads "" when not asked for,
    // and `unanswered` (field 3, a cluster's DumpSession with mqtt.forward_api) reads [].
    expect(withoutEmptyTransport(res)).toEqual({ ...http, unanswered: [] });
    expect((res as { rooms: Array<{ rid: string; room: unknown[] }> }).rooms).toEqual([
      { rid: "d", room: expect.arrayContaining([expect.objectContaining({ uid: "un-dump-g", rid: "d" })]) },
    ]);
    expect((res as { world: unknown[] }).world.length).toBe(2);
    g.call.end();
    w.close();
  });

  test("{transport: true} adds each session's transport, as on HTTP", async () => {
    const g = await subscribe(server, client, "un-dump-tg");
    const w = await connect(server, "un-dump-tw");
    const { err, res } = await call(client, "DumpSession", { transport: true });
    expect(err).toBeNull();
    expect(res).toEqual({ ...(await api(server, "DumpSession", { transport: true })).json, unanswered: [] });
    const world = (res as { world: Array<{ uid: string; transport: string }> }).world;
    expect(world.find((s) => s.uid === "un-dump-tg")?.transport).toBe("grpc");
    expect(world.find((s) => s.uid === "un-dump-tw")?.transport).toBe("websocket");
    g.call.end();
    w.close();
  });

  test("unary calls are counted by method and status in /metrics", async () => {
    await call(client, "DumpSession", {}, null);
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(/comet_grpc_requests_total\{method="DumpSession",code="OK"\} [1-9]/);
    expect(text).toMatch(/comet_grpc_requests_total\{method="DumpSession",code="UNAUTHENTICATED"\} [1-9]/);
  });
});
