/**
 * websocket.compression (docs/protocol.md, "Compression"): permessage-deflate with clients that
 * offer it, frames under compression_min_bytes sent as they are, an uplink that inflates past
 * limits.max_uplink_bytes closed 1009, and nothing changed for clients that do not offer it.
 * Seen from real clients (ws, Python's websockets) and from a bare TCP socket, which shows each
 * frame's RSV1 bit and wire size.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import WebSocket from "ws";
import { api, startTest, type TestServer, token, waitFor } from "../helpers.ts";
import { deflateMessage, maskedFrame, RawWebSocket } from "../support/raw-websocket.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";

const PATH = "/comet/Comet/Subscribe";
const MIN = 300;
const ON = `websocket: {compression: on, compression_min_bytes: ${MIN}}`;

/** A 2 KiB JSON evt, compressible like real application data. */
const EVT_2K = JSON.stringify({
  type: "order.updated",
  items: Array.from({ length: 24 }, (_, i) => ({ sku: `SKU-${1000 + i}`, qty: i % 5, price: 9.99 + i })),
}).slice(0, 2048);
const frameOf = (evt: string) => `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`;
/** The frame's overhead around an evt of plain ASCII letters. */
const OVERHEAD = frameOf("").length;

async function authRaw(ws: RawWebSocket, server: TestServer, uid: string, rid?: string, compress = false) {
  const frame: Record<string, unknown> = { t: "AUTH", auth: { token: await token(uid) } };
  if (rid !== undefined) frame.join = { rid };
  ws.sendText(JSON.stringify(frame), compress);
  await waitFor(() => {
    const s = server.hub.sessions.get(uid);
    return s !== undefined && (rid === undefined || s.rid === rid);
  }, `session ${uid}`);
}

/** A `ws` client that offers permessage-deflate and compresses every uplink (threshold 0). */
async function wsClient(server: TestServer, uid: string, rid: string) {
  const ws = new WebSocket(server.ws, { perMessageDeflate: { threshold: 0 } });
  const got: string[] = [];
  ws.on("message", (d, isBinary) => {
    if (!isBinary) got.push(d.toString());
  });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token(uid) }, join: { rid } }));
  await waitFor(() => server.hub.sessions.get(uid)?.rid === rid, `session ${uid}`);
  return { ws, got };
}

/** comet_disconnects_total by close code. */
async function disconnects(server: TestServer): Promise<Record<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^comet_disconnects_total\{code="(\d+)"\} (\d+)$/gm))
    out[m[1] as string] = Number(m[2]);
  return out;
}

describe("websocket.compression off (the default)", () => {
  test("a client that offers permessage-deflate gets no extension and uncompressed frames", async () => {
    const server = await startTest();
    try {
      const raw = await RawWebSocket.open(server.port, PATH, "permessage-deflate; client_max_window_bits");
      expect(raw.status).toBe(101);
      expect(raw.extensions).toBe("");
      await authRaw(raw, server, "plain", "r");
      expect((await api(server, "Broadcast", { rid: "r", evt: EVT_2K })).status).toBe(200);
      await raw.until(() => raw.texts().length === 1, "the broadcast");
      expect(raw.texts()[0]).toMatchObject({ compressed: false, text: frameOf(EVT_2K) });
      raw.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe("websocket.compression on, where the runtime cannot negotiate it", () => {
  test("stops the start with a message naming the key (Deno), or starts and negotiates (Bun)", async () => {
    if (TEST_RUNTIME === "deno") {
      await expect(startTest(ON)).rejects.toThrow(/websocket\.compression: on needs permessage-deflate.*deno/);
      return;
    }
    const server = await startTest(ON);
    try {
      const raw = await RawWebSocket.open(server.port, PATH, "permessage-deflate");
      expect(raw.extensions).toStartWith("permessage-deflate");
      raw.destroy();
    } finally {
      await server.stop();
    }
  });
});

// Deno is refused above; these need a server that negotiates (test/support/suites.ts).
describe("permessage-deflate negotiated", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest(ON);
  });
  afterAll(async () => {
    await server.stop();
  });

  test("ws: negotiated, a compressed AUTH is read, a 2 KiB evt arrives byte for byte by Publish and Broadcast", async () => {
    const { ws, got } = await wsClient(server, "ws-user", "ws-room");
    expect(ws.extensions).toStartWith("permessage-deflate");
    const unicode = `${EVT_2K.slice(0, 600)} — ünïcødé ✓ 𝄞 ${'\u0000\u001f"\\'}`;
    expect((await api(server, "Publish", { uid: "ws-user", evt: EVT_2K })).status).toBe(200);
    expect((await api(server, "Broadcast", { rid: "ws-room", evt: EVT_2K })).status).toBe(200);
    expect((await api(server, "Broadcast", { rid: "ws-room", evt: unicode })).status).toBe(200);
    expect((await api(server, "Broadcast", { rid: "ws-room", evt: "tiny" })).status).toBe(200);
    await waitFor(() => got.length === 4, "4 pushes");
    expect(got).toEqual([frameOf(EVT_2K), frameOf(EVT_2K), frameOf(unicode), frameOf("tiny")]);
    ws.close();
  });

  test("frames of at least compression_min_bytes are compressed, smaller ones are not, unicast and broadcast alike", async () => {
    const raw = await RawWebSocket.open(server.port, PATH, "permessage-deflate; client_max_window_bits");
    expect(raw.extensions).toContain("permessage-deflate");
    await authRaw(raw, server, "raw-user", "raw-room");
    const exact = "a".repeat(MIN - OVERHEAD); // a frame of exactly MIN bytes
    const under = "a".repeat(MIN - OVERHEAD - 1);
    // Fewer UTF-16 units than MIN, but MIN bytes and more in UTF-8: measured in bytes.
    const wide = "é".repeat(Math.ceil((MIN - OVERHEAD) / 2));
    expect(frameOf(wide).length).toBeLessThan(MIN);
    expect(Buffer.byteLength(frameOf(wide))).toBeGreaterThanOrEqual(MIN);
    const sent = [EVT_2K, exact, under, wide];
    for (const evt of sent) expect((await api(server, "Publish", { uid: "raw-user", evt })).status).toBe(200);
    for (const evt of sent) expect((await api(server, "Broadcast", { rid: "raw-room", evt })).status).toBe(200);
    await raw.until(() => raw.texts().length === 8, "8 pushes");
    const seen = raw.texts();
    expect(seen.map((f) => f.text)).toEqual([...sent, ...sent].map(frameOf));
    expect(seen.map((f) => f.compressed)).toEqual([true, true, false, true, true, true, false, true]);
    // Compression pays on the 2 KiB evt, unicast and broadcast.
    for (const f of [seen[0], seen[4]]) expect(f?.wireBytes).toBeLessThan(Buffer.byteLength(frameOf(EVT_2K)) / 2);
    expect(seen[2]?.wireBytes).toBe(MIN - 1);
    raw.destroy();
  });

  test("a client that does not offer it gets no extension and every frame as it is", async () => {
    const raw = await RawWebSocket.open(server.port, PATH);
    expect(raw.status).toBe(101);
    expect(raw.headers.has("sec-websocket-extensions")).toBe(false);
    await authRaw(raw, server, "no-deflate", "mixed");
    const other = await wsClient(server, "deflate", "mixed");
    expect((await api(server, "Broadcast", { rid: "mixed", evt: EVT_2K })).status).toBe(200);
    expect((await api(server, "Publish", { uid: "no-deflate", evt: EVT_2K })).status).toBe(200);
    await raw.until(() => raw.texts().length === 2, "2 pushes");
    for (const f of raw.texts()) {
      expect(f.compressed).toBe(false);
      expect(f.text).toBe(frameOf(EVT_2K));
      expect(f.wireBytes).toBe(Buffer.byteLength(frameOf(EVT_2K)));
    }
    await waitFor(() => other.got.length === 1, "the compressed client's push");
    expect(other.got[0]).toBe(frameOf(EVT_2K));
    raw.destroy();
    other.ws.close();
  });

  test("an uplink that inflates past max_uplink_bytes is closed 1009; one within it is read", async () => {
    const raw = await RawWebSocket.open(server.port, PATH, "permessage-deflate");
    // A compressed AUTH is read like any other.
    await authRaw(raw, server, "bomber", undefined, true);
    // 4 KiB + 1 of padding: a valid HB frame that inflates to more than the 4096 bytes allowed,
    // from 40-odd bytes on the wire.
    const bomb = deflateMessage(Buffer.from(`{"t":"HB"${" ".repeat(4096 - 10 + 1)}}`));
    expect(bomb.length).toBeLessThan(100);
    const within = deflateMessage(Buffer.from(`{"t":"HB"${" ".repeat(4096 - 10)}}`));
    raw.send(maskedFrame(within, { rsv1: true }));
    await Bun.sleep(50);
    expect(server.hub.sessions.has("bomber")).toBe(true);
    raw.send(maskedFrame(bomb, { rsv1: true }));
    expect((await raw.closeFrame()).closeCode).toBe(1009);
    await waitFor(() => !server.hub.sessions.has("bomber"), "the session ended");
    expect((await disconnects(server))["1009"]).toBe(1);
    raw.destroy();
  });

  test("a compressed frame that does not inflate is closed 1007; RSV1 without the extension 1002", async () => {
    const before = await disconnects(server);
    const garbage = await RawWebSocket.open(server.port, PATH, "permessage-deflate");
    await authRaw(garbage, server, "garbage");
    garbage.send(maskedFrame(Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x12]), { rsv1: true }));
    expect((await garbage.closeFrame()).closeCode).toBe(1007);
    await waitFor(() => !server.hub.sessions.has("garbage"), "the session ended");
    garbage.destroy();

    const unasked = await RawWebSocket.open(server.port, PATH);
    await authRaw(unasked, server, "unasked");
    unasked.send(maskedFrame(deflateMessage(Buffer.from('{"t":"HB"}')), { rsv1: true }));
    expect((await unasked.closeFrame()).closeCode).toBe(1002);
    await waitFor(() => !server.hub.sessions.has("unasked"), "the session ended");
    unasked.destroy();
    // Counted under the code the client received, not as a lost network (1006).
    const after = await disconnects(server);
    expect((after["1007"] ?? 0) - (before["1007"] ?? 0)).toBe(1);
    expect((after["1002"] ?? 0) - (before["1002"] ?? 0)).toBe(1);
    expect(after["1006"] ?? 0).toBe(before["1006"] ?? 0);
  });

  test("Python's websockets negotiates it and gets the 2 KiB evt byte for byte", async () => {
    const auth = JSON.stringify({ t: "AUTH", auth: { token: await token("py-user") }, join: { rid: "py" } });
    const script = `
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1], max_size=None) as ws:
        print("EXT", ws.response_headers.get("Sec-WebSocket-Extensions", ""), flush=True)
        await ws.send(sys.argv[2])
        print("GOT", await ws.recv(), flush=True)
asyncio.run(main())
`;
    const py = Bun.spawn([PYTHON, "-c", script, server.ws, auth], { stdout: "pipe", stderr: "pipe" });
    await waitFor(() => server.hub.sessions.get("py-user")?.rid === "py", "the Python session", 8000);
    expect((await api(server, "Broadcast", { rid: "py", evt: EVT_2K })).status).toBe(200);
    const [out, err, code] = await Promise.all([
      new Response(py.stdout).text(),
      new Response(py.stderr).text(),
      py.exited,
    ]);
    expect({ code, err }).toEqual({ code: 0, err: "" });
    const lines = out.trimEnd().split("\n");
    expect(lines[0]).toStartWith("EXT permessage-deflate");
    expect(lines[1]).toBe(`GOT ${frameOf(EVT_2K)}`);
  });
});

/** The Debian python3 (python3-websockets), not whichever python3 comes first on PATH. */
const PYTHON = process.env.COMET_TEST_PYTHON ?? "/usr/bin/python3";
