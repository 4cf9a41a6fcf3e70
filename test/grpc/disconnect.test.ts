/** An operator's Disconnect over gRPC: the unary method, and a Subscribe stream ended PERMISSION_DENIED (4410). */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ServiceError, status } from "@grpc/grpc-js";
import { connect, token } from "../helpers.ts";
import { adminMetadata, type CometClient, grpcClient, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

type Unary = (req: object, md: ReturnType<typeof adminMetadata>, cb: (e: ServiceError | null, r?: unknown) => void) => void;

function unary(client: CometClient, method: "Disconnect" | "Revocations", req: object, tok?: string | null) {
  const fn = (client as unknown as Record<string, Unary>)[method] as Unary;
  return new Promise<{ err: ServiceError | null; res: unknown }>((resolve) =>
    fn.call(client, req, adminMetadata(tok), (err, res) => resolve({ err, res })),
  );
}

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

test("a Subscribe stream is ended PERMISSION_DENIED with the reason and comet-code 4410", async () => {
  const s = await subscribe(server, client, "g-dc");
  const { err, res } = await unary(client, "Disconnect", { uid: "g-dc", reason: "policy violation" });
  expect(err).toBeNull();
  expect(res).toEqual({ disconnected: 1, unanswered: [] });
  expect(await s.waitEnd()).toEqual({ code: status.PERMISSION_DENIED, details: "policy violation", cometCode: 4410 });
});

test("gRPC Disconnect closes a WebSocket session too, revokes, and Revocations lists it", async () => {
  const ws = await connect(server, "g-ws", { token: await token("g-ws") });
  const { res } = await unary(client, "Disconnect", { uid: "g-ws", revoke: true });
  expect(res).toEqual({ disconnected: 1, unanswered: [] });
  expect(await ws.waitClose()).toEqual({ code: 4410, reason: "disconnected by an operator" });
  const list = (await unary(client, "Revocations", {})).res as { revocations: Array<{ uid: string; at: string }> };
  expect(list.revocations.map((r) => r.uid)).toEqual(["g-ws"]);
  expect(list.revocations[0]?.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test("refusals map to statuses: no uid INVALID_ARGUMENT, no admin token UNAUTHENTICATED", async () => {
  const missing = await unary(client, "Disconnect", { reason: "x" });
  expect([missing.err?.code, missing.err?.details]).toEqual([status.INVALID_ARGUMENT, "uid is required"]);
  const long = await unary(client, "Disconnect", { uid: "u", reason: "x".repeat(124) });
  expect(long.err?.code).toBe(status.INVALID_ARGUMENT);
  const anon = await unary(client, "Disconnect", { uid: "u" }, null);
  expect(anon.err?.code).toBe(status.UNAUTHENTICATED);
});
