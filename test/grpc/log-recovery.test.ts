/**
 * gRPC with the shared log (history.store: redis): a Subscribe stream on one instance recovers
 * what its user missed while connected to another, from the log.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { TestBroker } from "../bridge/broker.ts";
import { waitReadyz } from "../bridge/util.ts";
import { TestRedis } from "../broker/redis-server.ts";
import { api, token, waitFor } from "../helpers.ts";
import { type CometClient, grpcClient, Stream, startGrpcTest, type TestServer } from "./helpers.ts";

let broker: TestBroker;
let redis: TestRedis;
let a: TestServer;
let b: TestServer;
let client: CometClient;

beforeAll(async () => {
  [broker, redis] = await Promise.all([TestBroker.start(), TestRedis.start()]);
  const yaml = `mqtt: {url: "${broker.url}", forward_api: true}\nhistory: {store: redis, redis: {urls: ["${redis.url}"]}}`;
  [a, b] = await Promise.all([startGrpcTest(yaml), startGrpcTest(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  client = grpcClient(b);
});

afterAll(async () => {
  client?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
  await broker?.stop();
});

type GrpcPush = { evt: string; stream: string; seq: string; epoch: string };
const pushes = (s: Stream) =>
  s.downlinks.filter((d) => d.t === "PUSH").map((d) => d.push as unknown as GrpcPush);
const report = (s: Stream) =>
  s.downlinks.find((d) => d.t === "HB" && Object.keys((d.hb as { recovered?: object })?.recovered ?? {}).length > 0)
    ?.hb as { recovered: Record<string, boolean> } | undefined;

test("a gRPC stream on the other instance recovers from the log, then goes on live", async () => {
  const first = new Stream(grpcClient(a));
  first.send({ t: "AUTH", auth: { token: await token("grpc-roamer") } } as never);
  await waitFor(() => a.hub.sessions.has("grpc-roamer"), "the first session");
  await api(b, "Publish", { uid: "grpc-roamer", evt: "g1" });
  await first.until(() => pushes(first).length === 1, 3000, "g1");
  const at = pushes(first)[0] as GrpcPush;
  first.call.end();
  for (const evt of ["g2", "g3"]) await api(a, "Publish", { uid: "grpc-roamer", evt });
  const back = new Stream(client);
  back.send({
    t: "AUTH",
    auth: { token: await token("grpc-roamer") },
    recover: { u: { epoch: at.epoch, seq: at.seq } },
  } as never);
  await back.until(() => report(back) !== undefined, 3000, "the report");
  expect(report(back)?.recovered).toEqual({ u: true });
  await api(a, "Publish", { uid: "grpc-roamer", evt: "g4" });
  await back.until(() => pushes(back).length >= 3, 3000, "g2..g4");
  expect(pushes(back).map((p) => `${p.evt}@${p.seq}`)).toEqual(["g2@2", "g3@3", "g4@4"]);
  back.call.end();
});
