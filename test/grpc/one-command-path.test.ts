/**
 * One command path: the same inputs through HTTP, gRPC, a Batch and an MQTT Event have the same outcome
 * (delivered, refused as a bad request, refused as too large) and, where the wire can say it, the
 * same words. gRPC carries only what protobuf can encode (strings; no null, no wrong types).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { status } from "@grpc/grpc-js";
import { parseEvent } from "../../src/bridge/wire/event.ts";
import { TestBroker } from "../bridge/broker.ts";
import { metric, Observer, waitReadyz } from "../bridge/util.ts";
import { type Client, connect } from "../helpers.ts";
import { call, type CometClient, grpcClient, startGrpcTest, type TestServer } from "./helpers.ts";

type Outcome = "delivered" | "bad_request" | "evt_too_large" | "body_too_large";

interface Case {
  name: string;
  kind: "publish" | "broadcast";
  /** The JSON body (HTTP) and Event payload (MQTT). */
  json: string;
  /** The same request as a protobuf message, when protobuf can say it. */
  grpc?: Record<string, string>;
  outcome: Outcome;
  /** The refusal's words (HTTP detail, gRPC details, the MQTT drop reason), unit word aside. */
  detail?: string;
  /** What the subscriber receives when delivered. */
  evt?: string;
}

const UID = "tbl";
const LIMITS = "limits: {max_body_bytes: 1024, max_evt_bytes: 100}";
const CASES: Case[] = [
  {
    name: "a publish",
    kind: "publish",
    json: '{"uid":"tbl","evt":"p1"}',
    grpc: { uid: UID, evt: "p1" },
    outcome: "delivered",
    evt: "p1",
  },
  {
    name: "no evt is the empty evt",
    kind: "publish",
    json: '{"uid":"tbl"}',
    grpc: { uid: UID },
    outcome: "delivered",
    evt: "",
  },
  {
    name: "a null evt is the empty evt",
    kind: "publish",
    json: '{"uid":"tbl","evt":null}',
    outcome: "delivered",
    evt: "",
  },
  {
    name: "a null rid is the world",
    kind: "broadcast",
    json: '{"rid":null,"evt":"w1"}',
    grpc: { evt: "w1" },
    outcome: "delivered",
    evt: "w1",
  },
  {
    name: "an evt over max_evt_bytes in UTF-8 (publish)",
    kind: "publish",
    json: JSON.stringify({ uid: UID, evt: "é".repeat(51) }),
    grpc: { uid: UID, evt: "é".repeat(51) },
    outcome: "evt_too_large",
    detail: "evt over limits.max_evt_bytes (100 bytes, counted in UTF-8)",
  },
  {
    name: "an evt over max_evt_bytes (broadcast)",
    kind: "broadcast",
    json: JSON.stringify({ evt: "x".repeat(101) }),
    grpc: { evt: "x".repeat(101) },
    outcome: "evt_too_large",
    detail: "evt over limits.max_evt_bytes (100 bytes, counted in UTF-8)",
  },
  {
    name: "a request over max_body_bytes",
    kind: "broadcast",
    json: JSON.stringify({ rid: "r".repeat(1100), evt: "x" }),
    grpc: { rid: "r".repeat(1100), evt: "x" },
    outcome: "body_too_large",
    detail: "over limits.max_body_bytes (1024 bytes)",
  },
  {
    name: "a number evt",
    kind: "publish",
    json: '{"uid":"tbl","evt":5}',
    outcome: "bad_request",
    detail: "evt must be a string, got number",
  },
  {
    name: "a number uid",
    kind: "publish",
    json: '{"uid":7,"evt":"x"}',
    outcome: "bad_request",
    detail: "uid must be a string, got number",
  },
  {
    name: "an array rid",
    kind: "broadcast",
    json: '{"rid":["a"],"evt":"x"}',
    outcome: "bad_request",
    detail: "rid must be a string, got array",
  },
  {
    name: "an object evt",
    kind: "broadcast",
    json: '{"evt":{"a":1}}',
    outcome: "bad_request",
    detail: "evt must be a string, got object",
  },
  { name: "not JSON", kind: "broadcast", json: "{nope", outcome: "bad_request", detail: "is not valid JSON" },
  { name: "not an object", kind: "broadcast", json: "[1]", outcome: "bad_request", detail: "must be a JSON object" },
];

let broker: TestBroker;
let server: TestServer;
let client: CometClient;
let pub: Observer;
let sub: Client;

beforeAll(async () => {
  broker = await TestBroker.start();
  server = await startGrpcTest(`${LIMITS}\nmqtt: {url: "${broker.url}"}`);
  await waitReadyz(server, 200);
  client = grpcClient(server);
  pub = await Observer.connect(broker.url, []);
  sub = await connect(server, UID);
});

afterAll(async () => {
  sub?.close();
  client?.close();
  await pub?.close();
  await server?.stop();
  await broker?.stop();
});

const HTTP_METHOD = { publish: "Publish", broadcast: "Broadcast" } as const;

async function viaHttp(c: Case): Promise<{ outcome: Outcome; detail?: string }> {
  const res = await fetch(`${server.url}/comet/Comet/${HTTP_METHOD[c.kind]}`, {
    method: "POST",
    headers: { authorization: "Bearer admin-token-for-tests" },
    body: c.json,
  });
  const body = (await res.json()) as { id?: string; detail?: string };
  if (res.status === 200) return { outcome: "delivered" };
  return { outcome: (body.id ?? "").replace("comet.", "") as Outcome, detail: body.detail };
}

async function viaGrpc(c: Case, g: Record<string, string>): Promise<{ outcome: Outcome; detail?: string }> {
  const { err } = await call(client, HTTP_METHOD[c.kind], g);
  if (!err) return { outcome: "delivered" };
  const detail = err.details;
  if (err.code === status.INVALID_ARGUMENT) return { outcome: "bad_request", detail };
  if (err.code === status.RESOURCE_EXHAUSTED) {
    return { outcome: detail.startsWith("evt") ? "evt_too_large" : "body_too_large", detail };
  }
  throw new Error(`unexpected gRPC status ${err.code}: ${detail}`);
}

/** As one command of a Batch: only inputs that are a JSON object can be a command of a list. */
const batchable = (c: Case): boolean => {
  if (c.outcome === "body_too_large") return false;
  try {
    const v: unknown = JSON.parse(c.json);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
};

async function viaBatch(c: Case): Promise<{ outcome: Outcome; detail?: string }> {
  const body = `{"commands":[{"${c.kind}":${c.json}}]}`;
  const res = await fetch(`${server.url}/comet/Comet/Batch`, {
    method: "POST",
    headers: { authorization: "Bearer admin-token-for-tests" },
    body,
  });
  expect(res.status).toBe(200);
  const [reply] = ((await res.json()) as { replies: Array<{ error?: { code: number; detail: string } }> }).replies;
  if (!reply?.error) return { outcome: "delivered" };
  const { code, detail } = reply.error;
  return { outcome: code === 400 ? "bad_request" : "evt_too_large", detail };
}

const MQTT_OUTCOME: Record<string, Outcome> = {
  delivered: "delivered",
  invalid: "bad_request",
  too_large: "evt_too_large",
};

async function viaMqtt(c: Case): Promise<{ outcome: Outcome; detail?: string }> {
  const labels = ["delivered", "no_recipient", "invalid", "too_large"];
  const count = async () =>
    Promise.all(labels.map((o) => metric(server, "comet_bridge_events_in_total", { outcome: o })));
  const before = await count();
  await pub.publish("comet/events", c.json);
  let after = before;
  const deadline = Date.now() + 5000;
  while (after.every((n, i) => n === before[i])) {
    if (Date.now() > deadline) throw new Error(`the bridge never counted "${c.name}"`);
    await Bun.sleep(10);
    after = await count();
  }
  const changed = labels.find((_, i) => after[i] !== before[i]) as string;
  const parsed = parseEvent(new TextEncoder().encode(c.json), {
    maxBodyBytes: 1024,
    maxEvtBytes: 100,
    maxBatchCommands: 1000,
  });
  let outcome = MQTT_OUTCOME[changed] as Outcome;
  if (changed === "too_large" && !parsed.ok && parsed.reason.includes("max_body_bytes")) outcome = "body_too_large";
  return { outcome, detail: parsed.ok ? undefined : parsed.reason };
}

function expectSame(c: Case, got: { outcome: Outcome; detail?: string }): void {
  expect(got.outcome).toBe(c.outcome);
  if (c.detail) expect(got.detail).toContain(c.detail);
}

describe("the same inputs through every way in", () => {
  test.each(CASES.map((c) => [c.name, c] as const))("HTTP: %s", async (_, c) => {
    expectSame(c, await viaHttp(c));
  });

  test.each(CASES.filter((c) => c.grpc).map((c) => [c.name, c] as const))("gRPC: %s", async (_, c) => {
    expectSame(c, await viaGrpc(c, c.grpc as Record<string, string>));
  });

  test.each(CASES.filter(batchable).map((c) => [c.name, c] as const))("HTTP Batch: %s", async (_, c) => {
    expectSame(c, await viaBatch(c));
  });

  test.each(CASES.map((c) => [c.name, c] as const))("MQTT: %s", async (_, c) => {
    expectSame(c, await viaMqtt(c));
  });

  test("every way delivered exactly the accepted inputs, in order", async () => {
    const accepted = CASES.filter((c) => c.outcome === "delivered");
    const want = [
      ...accepted.map((c) => c.evt),
      ...accepted.filter((c) => c.grpc).map((c) => c.evt),
      ...accepted.filter(batchable).map((c) => c.evt),
      ...accepted.map((c) => c.evt),
    ];
    expect(await sub.waitPushes(want.length)).toEqual(want as string[]);
  });
});
