/**
 * The embedded broker and the strangers who have not CONNECTed yet, with raw TCP sockets: a big
 * CONNECT is cut from its fixed header, past the per-address and overall caps a new connection is
 * closed at once, a socket that sends nothing is closed after the connect timeout, and a normal
 * client still connects meanwhile. Client addresses other than 127.0.0.1 come from the rest of
 * 127.0.0.0/8, which Linux routes to loopback.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as tcp, type Socket } from "node:net";
import { connectAsync } from "mqtt";
import {
  CONNECT_MAX_BYTES,
  CONNECT_TIMEOUT_MS,
  MAX_PENDING,
  MAX_PENDING_PER_ADDRESS,
} from "../../src/bridge/wire/strangers.ts";
import { type Comet, metric, startComet, waitFor, waitReadyz } from "./util.ts";

let server: Comet;
let port: number;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:0"}}`);
  port = server.bridge!.embedded!.port;
  await waitReadyz(server, 200);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await server?.stop();
});

interface Raw {
  sock: Socket;
  opened: Promise<void>;
  closed: Promise<number>;
  received: () => Buffer;
}

/** A TCP connection to the broker from this loopback address; closed resolves with when (ms). */
function raw(from = "127.0.0.1"): Raw {
  const sock = tcp({ port, host: "127.0.0.1", localAddress: from });
  sockets.push(sock);
  const chunks: Buffer[] = [];
  sock.on("data", (d: Buffer) => chunks.push(d));
  sock.on("error", () => {});
  return {
    sock,
    opened: new Promise((r) => sock.once("connect", () => r())),
    closed: new Promise((r) => sock.once("close", () => r(Date.now()))),
    received: () => Buffer.concat(chunks),
  };
}

/** An MQTT 3.1.1 CONNECT: protocol "MQTT", level 4, clean session, keepalive 60, this client id. */
function connectPacket(clientId: string): Buffer {
  const id = Buffer.from(clientId);
  const body = Buffer.concat([
    Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, id.length >> 8, id.length & 0xff]),
    id,
  ]);
  const len: number[] = [];
  for (let n = body.length; ; ) {
    const b = n % 128;
    n = Math.floor(n / 128);
    len.push(n > 0 ? b | 0x80 : b);
    if (n === 0) break;
  }
  return Buffer.concat([Buffer.from([0x10, ...len]), body]);
}

const within = async <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
};

const refused = (reason: string) => metric(server, "comet_embedded_refused_total", { reason });

test("a CONNECT that announces more than 8 KiB is cut from its fixed header; one of 7 KiB connects", async () => {
  const big = raw();
  await big.opened;
  const size = CONNECT_MAX_BYTES + 1;
  big.sock.write(Buffer.from([0x10, (size % 128) | 0x80, size >> 7]));
  await within(big.closed, 1000, "the big CONNECT closed");
  expect(big.received().length).toBe(0);
  expect(await refused("connect_too_large")).toBe(1);
  const fair = raw();
  await fair.opened;
  const packet = connectPacket(`fair-${"x".repeat(7 * 1024)}`);
  expect(packet.length).toBeLessThan(CONNECT_MAX_BYTES);
  fair.sock.write(packet);
  await waitFor(() => fair.received().length >= 4, "CONNACK");
  expect([...fair.received()]).toEqual([0x20, 0x02, 0x00, 0x00]);
  fair.sock.destroy();
});

test("strangers who send nothing: capped per address and overall, closed after the connect timeout; a client still connects", async () => {
  const t0 = Date.now();
  // One address takes its places; its next connection is closed at once, with nothing read.
  const first = Array.from({ length: MAX_PENDING_PER_ADDRESS }, () => raw("127.0.0.2"));
  await Promise.all(first.map((r) => r.opened));
  const extra = raw("127.0.0.2");
  await within(extra.closed, 1000, "the connection past the per-address cap closed");
  await waitFor(async () => (await refused("pending_per_address")) === 1, "counted");
  // Meanwhile a client from elsewhere (here: 127.0.0.1) connects, and the bridge stays up.
  const client = await connectAsync(server.bridge!.embedded!.url, { reconnectPeriod: 0, connectTimeout: 2000 });
  await client.endAsync();
  await waitReadyz(server, 200);
  // Other addresses fill the overall cap; then anyone's next connection is closed at once.
  const others: Raw[] = [];
  for (let a = 3; others.length + first.length < MAX_PENDING; a++) {
    for (let i = 0; i < MAX_PENDING_PER_ADDRESS && others.length + first.length < MAX_PENDING; i++) {
      others.push(raw(`127.0.0.${a}`));
    }
  }
  await Promise.all(others.map((r) => r.opened));
  const late = raw("127.0.0.200");
  await within(late.closed, 1000, "the connection past the overall cap closed");
  await waitFor(async () => (await refused("pending_full")) === 1, "counted");
  // The connect timeout ends every one of them, not much later than it says.
  const ends = await within(
    Promise.all([...first, ...others].map((r) => r.closed)),
    CONNECT_TIMEOUT_MS + 3000,
    "the timeout",
  );
  expect(Math.min(...ends) - t0).toBeGreaterThanOrEqual(CONNECT_TIMEOUT_MS - 100);
  await waitFor(async () => (await refused("connect_timeout")) === MAX_PENDING, "every timeout counted");
  // Places free again: a CONNECT from the full address is answered.
  const again = raw("127.0.0.2");
  await again.opened;
  again.sock.write(connectPacket("again"));
  await waitFor(() => again.received().length >= 4, "CONNACK");
  expect([...again.received()]).toEqual([0x20, 0x02, 0x00, 0x00]);
}, 15_000);
