/** mqtt.embedded.max_packet_bytes: a larger packet ends its connection while it is read, not once it is held. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect as tcp } from "node:net";
import { connectAsync } from "mqtt";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { connect } from "../helpers.ts";
import { RemoteServer } from "../support/remote.ts";
import { type Comet, closedBy, metric, startComet, waitFor, waitReadyz } from "./util.ts";

const MiB = 1024 * 1024;
let server: Comet;
let url: string;
const lines: string[] = [];

beforeAll(async () => {
  // The defaults: limits.max_body_bytes is 1 MiB, so packets up to 1 MiB + 1 KiB pass.
  server = await startComet(`mqtt: {embedded: {listen: "127.0.0.1:0"}}`, lines);
  url = server.bridge!.embedded!.url;
  await waitReadyz(server, 200);
});

afterAll(async () => {
  await server?.stop();
});

/** The server's resident memory: this process's on Bun, the Deno process's in the Deno run. */
function serverRss(): number {
  if (server instanceof RemoteServer) {
    const status = readFileSync(`/proc/${server.pid}/status`, "utf8");
    return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1]) * 1024;
  }
  return process.memoryUsage().rss;
}

test("a 10 MB PUBLISH is refused while it is read: the client is disconnected, memory stays put, service goes on", async () => {
  const user = await connect(server, "lim");
  // Made before the first measure: on Bun the client's copy lives in the server's process.
  const payload = Buffer.alloc(10 * MiB, 0x20);
  if (!(server instanceof RemoteServer)) Bun.gc(true);
  const before = serverRss();
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, serverRss());
  }, 5);
  const big = await connectAsync(url, { reconnectPeriod: 0 });
  big.on("error", () => {});
  const closed = closedBy(big, 5000);
  big.publish("comet/events", payload);
  try {
    await closed;
    peak = Math.max(peak, serverRss());
  } finally {
    clearInterval(sampler);
  }
  expect(peak - before).toBeLessThan(50 * MiB);
  // Read whole, it would have reached the bridge and been counted there as too large.
  expect(await metric(server, "comet_bridge_events_in_total", { outcome: "too_large" })).toBe(0);
  await waitFor(() => lines.some((l) => l.includes("packet over mqtt.embedded.max_packet_bytes")), "the warning");
  const warning = JSON.parse(lines.find((l) => l.includes("max_packet_bytes")) as string);
  expect(warning).toMatchObject({ level: "warn", max_packet_bytes: MiB + 1024 });
  expect(warning.announced).toBeGreaterThan(10 * MiB);

  await sendEvent(url, "comet/events", { uid: "lim", evt: "after" });
  expect(await user.waitPushes(1)).toEqual(["after"]);
  await waitReadyz(server, 200);
  user.close();
});

test("a PUBLISH that announces 250 MB is refused from its fixed header, before any of its payload comes", async () => {
  const sock = tcp(server.bridge!.embedded!.port, "127.0.0.1");
  const received: Buffer[] = [];
  sock.on("data", (d: Buffer) => received.push(d));
  sock.on("error", () => {});
  const ended = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  // MQTT 3.1.1 CONNECT: protocol "MQTT", level 4, clean session, keepalive 60, client id "x".
  sock.write(Buffer.from([0x10, 13, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 0x02, 0, 60, 0, 1, 0x78]));
  await waitFor(() => Buffer.concat(received).length >= 4, "CONNACK");
  expect([...Buffer.concat(received)]).toEqual([0x20, 0x02, 0x00, 0x00]);
  const size = 250_000_000;
  sock.write(
    Buffer.from([0x30, (size % 128) | 0x80, ((size >> 7) % 128) | 0x80, ((size >> 14) % 128) | 0x80, size >> 21]),
  );
  // Without the guard aedes would wait, holding the connection, for 250 MB that never come.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve("still open after 3 s"), 3000);
  });
  expect(await Promise.race([ended.then(() => "closed"), late])).toBe("closed");
  clearTimeout(timer);
});

test("an Event of limits.max_body_bytes, the largest the bridge takes, still passes", async () => {
  const user = await connect(server, "full");
  const json = JSON.stringify({ uid: "full", evt: "a full body" });
  const backend = await connectAsync(url, { reconnectPeriod: 0 });
  // JSON allows the padding: the payload is exactly 1 MiB, the packet a little more. QoS 1: the
  // PUBACK says the broker read it whole.
  await backend.publishAsync("comet/events", json.padEnd(MiB, " "), { qos: 1 });
  expect(await user.waitPushes(1)).toEqual(["a full body"]);
  expect(backend.connected).toBe(true);
  await backend.endAsync();
  user.close();
});
