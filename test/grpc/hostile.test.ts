/** What a broken or hostile peer can do to the gRPC port, and that everyone else is served on. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import http2 from "node:http2";
import net from "node:net";
import { status } from "@grpc/grpc-js";
import { api, token, waitFor } from "../helpers.ts";
import { type CometClient, call, grpcClient, Stream, startGrpcTest, subscribe, type TestServer } from "./helpers.ts";

const FIXTURE = new URL("fixtures/subscriber.ts", import.meta.url).pathname;
let server: TestServer;
let client: CometClient;
let witness: Stream;
let witnessed = 0;
beforeAll(async () => {
  server = await startGrpcTest(
    "limits: {max_send_buffer: 262144, max_evt_bytes: 300000, max_body_bytes: 400000, max_uplink_bytes: 1024}",
  );
  client = grpcClient(server);
  witness = await subscribe(server, client, "witness");
});
afterAll(async () => {
  client.close();
  await server.stop();
});

/** After each hostile act: the port still serves calls, and a session opened before still hears. */
async function stillServing(): Promise<void> {
  expect((await call(client, "Publish", { uid: "witness", evt: `ok ${++witnessed}` })).err).toBeNull();
  await witness.waitPushes(witnessed);
  expect(witness.endInfo).toBeUndefined();
}

/** Connections that ended without a close of ours (1006), from /metrics. */
async function dropped(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/^comet_disconnects_total\{code="1006"\} (\d+)$/m.exec(text)?.[1] ?? 0);
}

/** Writes bytes on a fresh TCP connection; resolves once the server has closed it. */
async function rawTcp(bytes: Buffer | string): Promise<Buffer> {
  const sock = net.connect(server.grpcPort, "127.0.0.1");
  sock.on("error", () => {});
  await new Promise((r) => sock.once("connect", r));
  const got: Buffer[] = [];
  sock.on("data", (d: Buffer) => got.push(d));
  const closed = new Promise((r) => sock.once("close", r));
  sock.write(bytes);
  await closed;
  return Buffer.concat(got);
}

const PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
const GOAWAY = 7;
/** The types of the frames the server sent, read from frame headers. */
function frameTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) types.push(bytes[at + 3] as number);
  return types;
}

describe("garbage on the wire", () => {
  test("random bytes, an HTTP/1.1 request, a preface then garbage, a HEADERS frame of bad HPACK: GOAWAY", async () => {
    const random = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) % 256));
    const cases = [
      random,
      Buffer.from("GET /comet.Comet/Subscribe HTTP/1.1\r\nHost: x\r\n\r\n"),
      Buffer.concat([PREFACE, EMPTY_SETTINGS, random]),
      Buffer.concat([PREFACE, EMPTY_SETTINGS, Buffer.from([0, 0, 8, 1, 5, 0, 0, 0, 1]), Buffer.alloc(8, 0xff)]),
    ];
    for (const bytes of cases) expect(frameTypes(await rawTcp(bytes))).toContain(GOAWAY);
    await stillServing();
  });

  test("thousands of streams opened and reset at once (rapid reset): the connection is cut, nobody else", async () => {
    const session = http2.connect(`http://127.0.0.1:${server.grpcPort}`);
    session.on("error", () => {});
    const closed = new Promise((r) => session.once("close", r));
    for (let i = 0; i < 3000 && !session.destroyed; i++) {
      const req = session.request({
        ":method": "POST",
        ":path": "/comet.Comet/Publish",
        "content-type": "application/grpc",
      });
      req.on("error", () => {});
      req.close(http2.constants.NGHTTP2_CANCEL);
    }
    await closed;
    await stillServing();
  });
});

describe("oversized and unreadable", () => {
  test("a Subscribe message past every method's limit is refused before it is read; the session ends", async () => {
    const s = await subscribe(server, client, "huge");
    s.send({ t: "JOIN", join: { rid: "r".repeat(500_000) } });
    expect((await s.waitEnd()).code).toBe(status.RESOURCE_EXHAUSTED);
    await waitFor(() => !server.hub.sessions.has("huge"));
    await stillServing();
  });

  test("a subscriber that stops reading is cut at max_send_buffer; its room gets everything", async () => {
    const fast = await subscribe(server, client, "fast", { rid: "big" });
    const droppedBefore = await dropped();
    // A subscriber process stopped with SIGSTOP reads nothing more: its HTTP/2 window closes and
    // what the room gets piles up in the server for it.
    const slow = Bun.spawn([process.execPath, FIXTURE, String(server.grpcPort), await token("slow"), "big"], {
      stdout: "pipe",
    });
    try {
      await waitFor(() => server.hub.sessions.get("slow")?.rid === "big", "slow subscriber", 5000);
      process.kill(slow.pid, "SIGSTOP");
      const evt = "x".repeat(16 * 1024);
      let sentBeforeDrop = 0;
      for (let i = 0; i < 100; i++) {
        expect((await api(server, "Broadcast", { rid: "big", evt })).status).toBe(200);
        if (server.hub.sessions.has("slow")) sentBeforeDrop++;
      }
      await waitFor(() => !server.hub.sessions.has("slow"), "slow consumer dropped", 5000);
      // 1.6 MiB went to the room; the stopped subscriber was dropped once its 64 KiB window and
      // the 256 KiB of max_send_buffer were full, not after the server had queued it all.
      expect(sentBeforeDrop).toBeLessThan(40);
      expect((await fast.waitPushes(100, 10_000)).length).toBe(100);
      expect(fast.endInfo).toBeUndefined();
      process.kill(slow.pid, "SIGCONT");
      // Reset at once, like a WebSocket terminated without a close frame: no status of ours.
      expect(await new Response(slow.stdout).text()).toMatch(new RegExp(`^ready\nstatus ${status.CANCELLED} `));
      expect(await dropped()).toBe(droppedBefore + 1);
    } finally {
      slow.kill("SIGKILL");
      fast.call.end();
    }
    await stillServing();
  });

  test("streams that never send are ended at auth.timeout, however many", async () => {
    const quick = await startGrpcTest("auth: {timeout: 200ms}");
    const c = grpcClient(quick);
    try {
      const silent = Array.from({ length: 300 }, () => new Stream(c));
      const ends = await Promise.all(silent.map((s) => s.waitEnd(3000)));
      expect(new Set(ends.map((e) => `${e.code} ${e.cometCode}`))).toEqual(
        new Set([`${status.DEADLINE_EXCEEDED} 4408`]),
      );
      expect(quick.gateway.connections.size).toBe(0);
    } finally {
      c.close();
      await quick.stop();
    }
  });
});

describe("connections that hold no call", () => {
  test("one that never opens a call is closed at auth.timeout; one left idle after calls, later", async () => {
    const quick = await startGrpcTest("auth: {timeout: 200ms}\nheartbeat: {interval: 100ms}");
    const c = grpcClient(quick);
    const closedBy = async (reason: string) => {
      const text = await (await fetch(`${quick.url}/metrics`)).text();
      return Number(
        new RegExp(`^comet_grpc_tcp_closed_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0,
      );
    };
    try {
      const open = async (bytes?: Buffer) => {
        const sock = net.connect(quick.grpcPort, "127.0.0.1");
        sock.on("error", () => {});
        await new Promise((r) => sock.once("connect", r));
        if (bytes) sock.write(bytes);
        return new Promise((r) => sock.once("close", r));
      };
      // Silent from the start, and HTTP/2 spoken but no call opened: both closed.
      await Promise.all([open(), open(Buffer.concat([PREFACE, EMPTY_SETTINGS]))]);
      expect(await closedBy("no_call")).toBe(2);
      // A channel rests between unary calls: closed once idle past 3 heartbeats; the client
      // reconnects for its next call.
      expect((await call(c, "DumpSession", {})).err).toBeNull();
      const deadline = Date.now() + 3000;
      while ((await closedBy("idle")) === 0) {
        if (Date.now() > deadline) throw new Error("the idle channel was not closed");
        await Bun.sleep(20);
      }
      expect((await call(c, "DumpSession", {})).err).toBeNull();
      // A Subscribe stream keeps its connection, as long as it lives.
      const s = await subscribe(quick, c, "tcp-keep");
      s.call.on("data", (d: { t: string }) => d.t === "HB" && s.send({ t: "HB" }));
      await s.until(() => s.downlinks.length >= 6, 3000, "6 probes");
      expect(s.endInfo).toBeUndefined();
      s.call.end();
    } finally {
      c.close();
      await quick.stop();
    }
  });
});
