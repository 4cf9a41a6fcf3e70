/**
 * websocket.compression against Chromium's own WebSocket (Debian's Chromium, driven by
 * playwright-core as in page.test.ts): the browser offers permessage-deflate, the server accepts,
 * and a page receives what was published byte for byte, compressed or not.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { api, startTest, type TestServer, token, waitFor } from "../helpers.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let browser: Browser;
let server: TestServer;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  server = await startTest("websocket: {compression: on, compression_min_bytes: 256}");
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

test("Chromium negotiates permessage-deflate and receives a 2 KiB evt and a small one byte for byte", async () => {
  const page = await browser.newPage();
  // Any page of the server's origin: the test's script opens the WebSocket itself.
  await page.goto(`${server.url}/healthz`);
  const auth = JSON.stringify({ t: "AUTH", auth: { token: await token("chromium") }, join: { rid: "deflate" } });
  await page.evaluate(
    ([url, frame]) => {
      const w = window as unknown as { got: string[]; ws: WebSocket };
      w.got = [];
      w.ws = new WebSocket(url as string);
      w.ws.onopen = () => w.ws.send(frame as string);
      w.ws.onmessage = (e) => w.got.push(e.data as string);
    },
    [server.ws, auth],
  );
  await waitFor(() => server.hub.sessions.get("chromium")?.rid === "deflate", "the browser's session", 8000);
  const big = JSON.stringify({
    kind: "inventory",
    rows: Array.from({ length: 40 }, (_, i) => ({ id: i, name: `item ${i} — ünïcødé`, stock: i * 7 })),
  }).slice(0, 2048);
  for (const evt of [big, "small"]) expect((await api(server, "Broadcast", { rid: "deflate", evt })).status).toBe(200);
  await page.waitForFunction(() => (window as unknown as { got: string[] }).got.length === 2, undefined, {
    timeout: 5000,
  });
  const { extensions, got } = await page.evaluate(() => {
    const w = window as unknown as { got: string[]; ws: WebSocket };
    return { extensions: w.ws.extensions, got: w.got };
  });
  expect(extensions).toStartWith("permessage-deflate");
  const frame = (evt: string) => `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`;
  expect(got).toEqual([frame(big), frame("small")]);
  await page.close();
});
