/** Every close code of docs/protocol.md as the gRPC status that ends a Subscribe stream, with comet-code. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { connect, token, waitFor } from "../helpers.ts";
import {
  type CometClient,
  call,
  type Ended,
  grpcClient,
  Stream,
  startGrpcTest,
  subscribe,
  type TestServer,
} from "./helpers.ts";

const INTERVAL = 200;
let server: TestServer;
let client: CometClient;
beforeAll(async () => {
  server = await startGrpcTest(
    `heartbeat: {interval: ${INTERVAL}ms}\nauth: {timeout: 300ms}\nlimits: {max_uplink_bytes: 256, uplink_rate: 5}`,
  );
  client = grpcClient(server);
});
afterAll(async () => {
  client.close();
  await server.stop();
});

const ended = (code: number, cometCode: number, details: string): Ended => ({ code, cometCode, details });

describe("INVALID_ARGUMENT (4400)", () => {
  test("a first uplink that is not AUTH", async () => {
    const s = new Stream(client);
    s.send({ t: "HB" });
    expect(await s.waitEnd()).toEqual(ended(status.INVALID_ARGUMENT, 4400, "the first frame must be AUTH"));
  });

  test("an uplink PUSH", async () => {
    const s = await subscribe(server, client, "st-push");
    s.send({ t: "PUSH" });
    expect(await s.waitEnd()).toEqual(ended(status.INVALID_ARGUMENT, 4400, "PUSH is downlink only"));
  });

  test("an MsgType the proto does not know, and bytes that are not protobuf", async () => {
    const unknown = new Stream(client, { raw: true });
    unknown.raw([0x08, 0x07]); // field 1 (t), varint 7
    expect(await unknown.waitEnd()).toEqual(ended(status.INVALID_ARGUMENT, 4400, "unknown t"));
    const garbage = new Stream(client, { raw: true });
    garbage.raw([0xff, 0xff, 0xff]);
    expect(await garbage.waitEnd()).toEqual(ended(status.INVALID_ARGUMENT, 4400, "malformed protobuf"));
  });
});

describe("UNAUTHENTICATED (4401)", () => {
  test("AUTH with no token, and with one that does not verify", async () => {
    const none = new Stream(client);
    none.send({ t: "AUTH" });
    expect(await none.waitEnd()).toEqual(ended(status.UNAUTHENTICATED, 4401, "token missing"));
    const bad = new Stream(client);
    bad.send({ t: "AUTH", auth: { token: await token("st-x", { secret: "another-secret-another-secret-another" }) } });
    expect(await bad.waitEnd()).toEqual(ended(status.UNAUTHENTICATED, 4401, "token signature invalid"));
  });
});

describe("PERMISSION_DENIED (4403)", () => {
  test("re-AUTH with a different sub", async () => {
    const s = await subscribe(server, client, "st-sub1");
    s.send({ t: "AUTH", auth: { token: await token("st-sub2") } });
    expect(await s.waitEnd()).toEqual(ended(status.PERMISSION_DENIED, 4403, "re-AUTH with a different sub"));
  });

  test("a JOIN the token's rooms claim does not allow", async () => {
    const s = await subscribe(server, client, "st-room", { token: await token("st-room", { rooms: ["team/*"] }) });
    s.send({ t: "JOIN", join: { rid: "team/1" } });
    await waitFor(() => server.hub.sessions.get("st-room")?.rid === "team/1");
    s.send({ t: "JOIN", join: { rid: "elsewhere" } });
    expect(await s.waitEnd()).toEqual(ended(status.PERMISSION_DENIED, 4403, "room not allowed"));
  });
});

describe("DEADLINE_EXCEEDED (4408) and the heartbeat", () => {
  test("a stream that never sends is ended at auth.timeout", async () => {
    const s = new Stream(client);
    expect(await s.waitEnd(2000)).toEqual(ended(status.DEADLINE_EXCEEDED, 4408, "auth timeout"));
  });

  test("a silent session gets HB probes; one that answers them stays past 3 intervals", async () => {
    const s = await subscribe(server, client, "st-hb");
    let answered = 0;
    s.call.on("data", (d: { t: string }) => {
      if (d.t === "HB" && answered < 4) {
        answered++;
        s.send({ t: "HB" });
      }
    });
    // Four probes answered: the session has lived past 3 intervals only because it answered.
    await s.until(() => answered >= 4, 4000, "4 probes answered");
    // An empty Heartbeat on the wire; the client fills in the map field Part 2 added (defaults: true).
    expect(s.downlinks[0]).toEqual({ t: "HB", hb: { recovered: {} }, push: null });
    expect(s.endInfo).toBeUndefined();
    expect(server.hub.sessions.has("st-hb")).toBe(true);
    s.call.end();
  });

  test("a session silent for more than 3 intervals is ended", async () => {
    const s = await subscribe(server, client, "st-silent");
    expect(await s.waitEnd(3000)).toEqual(ended(status.DEADLINE_EXCEEDED, 4408, "heartbeat timeout"));
    expect(s.downlinks.filter((d) => d.t === "HB").length).toBeGreaterThanOrEqual(2);
  });
});

describe("ABORTED (4409)", () => {
  test("a newer login of the same uid, here over WebSocket", async () => {
    const s = await subscribe(server, client, "st-replaced");
    const w = await connect(server, "st-replaced");
    expect(await s.waitEnd()).toEqual(ended(status.ABORTED, 4409, "replaced by a newer session of the same uid"));
    w.close();
  });
});

describe("RESOURCE_EXHAUSTED (1009, 4429, 4503)", () => {
  test("an uplink over limits.max_uplink_bytes (1009); one of exactly the limit is fine", async () => {
    const s = await subscribe(server, client, "st-big");
    // Uplink{t: JOIN, join: {rid}} on the wire: 2 bytes of t, 3 of join's tag and length, 3 of
    // rid's: a rid of 248 bytes makes 256.
    s.send({ t: "JOIN", join: { rid: "r".repeat(248) } });
    await waitFor(() => server.hub.sessions.get("st-big")?.rid === "r".repeat(248));
    s.send({ t: "JOIN", join: { rid: "r".repeat(249) } });
    expect(await s.waitEnd()).toEqual(
      ended(status.RESOURCE_EXHAUSTED, 1009, "uplink message of 257 bytes over limits.max_uplink_bytes"),
    );
  });

  test("uplinks faster than limits.uplink_rate (4429)", async () => {
    const s = await subscribe(server, client, "st-rate");
    for (let i = 0; i < 20; i++) s.send({ t: "HB" });
    expect(await s.waitEnd()).toEqual(ended(status.RESOURCE_EXHAUSTED, 4429, "uplink rate limit exceeded"));
  });

  test("over limits.max_connections (4503), counted across both transports", async () => {
    const small = await startGrpcTest("limits: {max_connections: 2}");
    const c = grpcClient(small);
    try {
      const a = await subscribe(small, c, "st-a");
      const w = await connect(small, "st-w");
      const extra = new Stream(c);
      expect(await extra.waitEnd()).toEqual(ended(status.RESOURCE_EXHAUSTED, 4503, "too many connections"));
      a.call.end();
      w.close();
    } finally {
      c.close();
      await small.stop();
    }
  });
});

describe("UNAVAILABLE (1001)", () => {
  test("a graceful drain ends sessions and streams that have not authenticated", async () => {
    const draining = await startGrpcTest("shutdown: {drain: 0s}");
    const c = grpcClient(draining);
    try {
      const s = await subscribe(draining, c, "st-drain");
      const waiting = new Stream(c);
      await waitFor(() => draining.gateway.connections.size === 2);
      await draining.drain();
      expect(await s.waitEnd()).toEqual(ended(status.UNAVAILABLE, 1001, "server shutting down"));
      expect(await waiting.waitEnd()).toEqual(ended(status.UNAVAILABLE, 1001, "server shutting down"));
    } finally {
      c.close();
    }
  });

  test("while draining, a new stream is refused at once and unary calls are still served", async () => {
    const draining = await startGrpcTest("shutdown: {drain: 400ms}");
    const c = grpcClient(draining);
    try {
      const s = await subscribe(draining, c, "st-holds");
      const drained = draining.drain();
      const late = new Stream(c);
      expect(await late.waitEnd()).toEqual(ended(status.UNAVAILABLE, 1001, "server shutting down"));
      expect((await call(c, "Publish", { uid: "st-holds", evt: "still served" })).err).toBeNull();
      expect(await s.waitPushes(1)).toEqual(["still served"]);
      await drained;
      expect((await s.waitEnd()).cometCode).toBe(1001);
    } finally {
      c.close();
    }
  });
});
