/**
 * Delivery positions and recovery over gRPC: a Subscribe stream always carries positions; numbering
 * holds under publishes from every way in at once; a cut TCP connection recovers with `recover`.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connectAsync, type MqttClient } from "mqtt";
import { TestBroker } from "../bridge/broker.ts";
import { waitReadyz } from "../bridge/util.ts";
import { api, token } from "../helpers.ts";
import { CutProxy } from "../support/cut-proxy.ts";
import { kindOf, type Push, pushesOf, subscribe as wsSubscribe } from "../support/positions.ts";
import { type CometClient, call, grpcClient, Stream, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type GrpcPush = { evt: string; stream: string; seq: string; epoch: string };
/** The PUSHes of a stream, seq as a number (grpc-js reads a uint64 as a string here). */
const pushesOfStream = (s: Stream): Push[] =>
  s.downlinks
    .filter((d) => d.t === "PUSH")
    .map((d) => {
      const p = d.push as unknown as GrpcPush;
      return { evt: p.evt, stream: p.stream, seq: Number(p.seq), epoch: p.epoch };
    });
const recoveredOfStream = (s: Stream) =>
  s.downlinks.find((d) => d.t === "HB" && Object.keys((d.hb as { recovered?: object })?.recovered ?? {}).length > 0)
    ?.hb as { recovered: Record<string, boolean> } | undefined;

let broker: TestBroker;
let server: TestServer;
let client: CometClient;
let mqtt: MqttClient;
beforeAll(async () => {
  broker = await TestBroker.start();
  server = await startGrpcTest(`mqtt: {url: "${broker.url}"}\nhistory: {size: 2000}`);
  await waitReadyz(server, 200);
  client = grpcClient(server);
  mqtt = await connectAsync(broker.url);
});
afterAll(async () => {
  await mqtt?.endAsync();
  client?.close();
  await server?.stop();
  await broker?.stop();
});

describe("positions over gRPC", () => {
  test("a Subscribe stream always carries positions, without asking", async () => {
    const s = await subscribe(server, client, "gp-always", { rid: "gp-room" });
    await api(server, "Publish", { uid: "gp-always", evt: "u1" });
    await api(server, "Broadcast", { rid: "gp-room", evt: "r1" });
    await s.waitPushes(2);
    expect(pushesOfStream(s).map((p) => [p.evt, p.stream, p.seq])).toEqual([
      ["u1", "u", 1],
      ["r1", "r:gp-room", 1],
    ]);
    expect(pushesOfStream(s).every((p) => typeof p.epoch === "string" && p.epoch !== "")).toBe(true);
    s.call.end();
  });

  test("numbering has no gaps or repeats under concurrent publishes from HTTP, gRPC and MQTT; a world broadcast has one number everywhere", async () => {
    const uid = "gp-many";
    const rid = "gp-many-room";
    const g = await subscribe(server, client, uid, { rid });
    const ws = await wsSubscribe(server, "gp-many-ws", { positions: true, join: { rid } });
    const N = 60;
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < N; i++) {
      for (const [kind, target] of [
        ["u", { uid }],
        ["r", { rid }],
        ["w", { rid: "" }],
      ] as const) {
        const method = kind === "u" ? "Publish" : "Broadcast";
        sends.push(api(server, method, { ...target, evt: `http-${kind}-${i}` }));
        sends.push(call(client, method, { ...target, evt: `grpc-${kind}-${i}` }));
        sends.push(mqtt.publishAsync("comet/events", JSON.stringify({ ...target, evt: `mqtt-${kind}-${i}` })));
      }
    }
    await Promise.all(sends);
    await g.waitPushes(9 * N, 10000);
    await ws.until(() => pushesOf(ws).length >= 6 * N, 10000, "the room's and the world's");
    const got = pushesOfStream(g);
    for (const kind of ["u", "r", "w"]) {
      const mine = got.filter((p) => kindOf(p.stream) === kind);
      expect(mine.length).toBe(3 * N);
      expect(new Set(mine.map((p) => p.evt)).size).toBe(3 * N);
      const seqs = mine.map((p) => p.seq as number);
      expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
      if (kind !== "w") expect(seqs[0]).toBe(1);
    }
    // The WebSocket session in the same room sees the same number for each message.
    const numbered = (list: Push[]) =>
      list
        .filter((p) => p.stream !== "u")
        .map((p) => `${p.stream}/${p.epoch}/${p.seq}/${p.evt}`)
        .sort();
    expect(numbered(pushesOf(ws))).toEqual(numbered(got));
    g.call.end();
    ws.close();
  });

  test("a gRPC stream whose TCP connection is cut recovers every message exactly once, in order per stream", async () => {
    const uid = "gp-loss";
    const rid = "gp-loss-room";
    const proxy = await CutProxy.to(server.grpcPort);
    const viaProxy = () => grpcClient({ ...server, grpcPort: proxy.port });
    const c1 = viaProxy();
    try {
      const first = await subscribe(server, c1, uid, { rid });
      const published = { u: [] as string[], r: [] as string[], w: [] as string[] };
      let state = 7;
      const rand = () => {
        state = (state * 1664525 + 1013904223) >>> 0;
        return state / 2 ** 32;
      };
      let second: Promise<Stream> | undefined;
      for (let i = 0; i < 1000; i++) {
        const kind = (["u", "r", "w"] as const)[i < 3 ? i : Math.floor(rand() * 3)] as "u" | "r" | "w";
        const evt = `${kind}-${i}`;
        if (kind === "u") await api(server, "Publish", { uid, evt });
        else await api(server, "Broadcast", { rid: kind === "r" ? rid : "", evt });
        published[kind].push(evt);
        if (i === 300) {
          await first.until(() => pushesOfStream(first).length >= 3, 3000, "a push of each stream");
          proxy.cut();
          second = (async () => {
            await first.ended;
            await sleep(1000);
            const recover: Record<string, { epoch: string; seq: string }> = {};
            for (const p of pushesOfStream(first)) {
              recover[kindOf(p.stream)] = { epoch: p.epoch as string, seq: String(p.seq) };
            }
            const s = new Stream(viaProxy());
            s.send({ t: "AUTH", auth: { token: await token(uid) }, join: { rid }, recover } as never);
            return s;
          })();
        }
        if (i % 4 === 0) await sleep(2);
      }
      const s = await (second as Promise<Stream>);
      await s.until(() => recoveredOfStream(s) !== undefined, 5000, "the recovered report");
      expect(recoveredOfStream(s)?.recovered).toEqual({ u: true, r: true, w: true });
      const total = published.u.length + published.r.length + published.w.length;
      await s.until(() => pushesOfStream(first).length + pushesOfStream(s).length >= total, 15000, "every message");
      await sleep(100);
      const all = [...pushesOfStream(first), ...pushesOfStream(s)];
      for (const kind of ["u", "r", "w"] as const) {
        const got = all.filter((p) => kindOf(p.stream) === kind);
        expect(got.map((p) => p.evt)).toEqual(published[kind]);
        const seqs = got.map((p) => p.seq as number);
        expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
      }
      s.call.end();
    } finally {
      c1.close();
      await proxy.close();
    }
  });

  test("a forged recover over gRPC: another epoch or seq ahead is false, nothing replayed", async () => {
    const s = new Stream(client);
    s.send({
      t: "AUTH",
      auth: { token: await token("gp-forged") },
      recover: { u: { epoch: "nope", seq: "1" }, w: { epoch: "", seq: "18446744073709551615" } },
    } as never);
    await s.until(() => recoveredOfStream(s) !== undefined, 3000, "the recovered report");
    expect(recoveredOfStream(s)?.recovered).toEqual({ u: false, w: false });
    expect(pushesOfStream(s)).toEqual([]);
    s.call.end();
  });
});
