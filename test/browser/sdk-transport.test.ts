/**
 * The client SDK in Chromium (playwright-core, as in page.test.ts) with transport "auto", on a
 * page of another origin, through a proxy that strips the WebSocket upgrade: it falls back to SSE
 * (a cross-origin fetch with Authorization: the CORS preflight, then the stream), receives, and is
 * back on WebSocket once the proxy lets upgrades through, nothing lost or repeated.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";
import { loadConfig } from "../../src/config/load.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { ADMIN, api, SECRET, startTest, type TestServer, token, waitFor } from "../helpers.ts";
import { StripProxy } from "../support/strip-proxy.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let browser: Browser;
let pages: RunningServer;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
  // Serves the page's origin and the SDK bundle (/comet-client.js).
  pages = await startServer(
    loadConfig({
      yaml: "ui: {enabled: true}",
      env: { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN },
      overrides: { listen: "127.0.0.1:0" },
    }),
  );
});

afterAll(async () => {
  await browser?.close();
  await pages?.stop();
});

type W = { got: string[]; gaps: unknown[]; c: { transport: string | undefined; state: string } };

test('transport "auto" in Chromium: SSE across origins behind a proxy that strips Upgrade, then WebSocket again', async () => {
  const origin = new URL(pages.url).origin;
  const server: TestServer = await startTest(`allowed_origins: ["${origin}"]\nhistory: {size: 1000}`);
  const proxy = await StripProxy.to(server.port);
  const page = await browser.newPage();
  try {
    await page.goto(`${pages.url}/healthz`);
    await page.evaluate(
      async ([url, tok]) => {
        const { CometClient } = await import("/comet-client.js" as string);
        const w = window as unknown as W;
        w.got = [];
        w.gaps = [];
        w.c = new CometClient({ url, token: tok, rid: "web", transport: "auto", upgradeRetry: 800 });
        type Chain = { on(e: string, f: (x: unknown) => void): Chain };
        (w.c as unknown as Chain).on("push", (evt) => w.got.push(evt as string)).on("gap", (g) => w.gaps.push(g));
        await (w.c as unknown as { connect(): Promise<void> }).connect();
      },
      [proxy.ws, await token("web-user")],
    );
    await waitFor(() => server.hub.sessions.get("web-user")?.rid === "web", "the browser's session", 8000);
    expect(await page.evaluate(() => (window as unknown as W).c.transport)).toBe("sse");
    expect(proxy.stripped).toBeGreaterThanOrEqual(1);
    const sent: string[] = [];
    const send = async (evt: string) => {
      sent.push(evt);
      await api(server, sent.length % 2 ? "Publish" : "Broadcast", { uid: "web-user", rid: "web", evt });
    };
    for (let i = 0; i < 10; i++) await send(`sse ${i}`);
    await page.waitForFunction(() => (window as unknown as W).got.length === 10, undefined, { timeout: 5000 });

    proxy.strip = false;
    const deadline = Date.now() + 8000;
    while ((await page.evaluate(() => (window as unknown as W).c.transport)) !== "websocket") {
      if (Date.now() > deadline) throw new Error("the client never went back to WebSocket");
      await send(`switching ${sent.length}`);
      await Bun.sleep(20);
    }
    for (let i = 0; i < 10; i++) await send(`ws ${i}`);
    const n = sent.length;
    await page.waitForFunction((k) => (window as unknown as W).got.length >= k, n, { timeout: 5000 });
    await Bun.sleep(100);
    const { got, gaps } = await page.evaluate(() => ({
      got: (window as unknown as W).got,
      gaps: (window as unknown as W).gaps,
    }));
    // Each stream (the user's and the room's) in order; together, each message once.
    expect(got.filter((e) => sent.indexOf(e) % 2 === 0)).toEqual(sent.filter((_, i) => i % 2 === 0));
    expect(got.filter((e) => sent.indexOf(e) % 2 === 1)).toEqual(sent.filter((_, i) => i % 2 === 1));
    expect(got.length).toBe(n);
    expect(gaps).toEqual([]);
  } finally {
    await page.evaluate(() => (window as unknown as { c?: { close(): void } }).c?.close()).catch(() => {});
    await page.close();
    await proxy.close();
    await server.stop();
  }
}, 40_000);
