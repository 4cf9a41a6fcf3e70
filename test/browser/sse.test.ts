/**
 * Chromium's own EventSource against the SSE endpoint (Debian's Chromium, driven by
 * playwright-core as in page.test.ts): same origin with the token in the query, the browser's own
 * reconnection after a restart, and a cross-origin page that allowed_origins admits or refuses.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { api, startTest, type TestServer, token, waitFor } from "../helpers.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
  });
});

afterAll(async () => {
  await browser?.close();
});

type Seen = { got: string[]; errors: number; opens: number; es: EventSource };

/** Opens an EventSource in the page; what it receives collects in window.got. */
async function openEventSource(page: Page, url: string): Promise<void> {
  await page.evaluate((u) => {
    const w = window as unknown as Seen;
    w.got = [];
    w.errors = 0;
    w.opens = 0;
    w.es = new EventSource(u);
    w.es.onopen = () => w.opens++;
    w.es.onmessage = (e) => w.got.push(e.data as string);
    w.es.onerror = () => w.errors++;
  }, url);
}

const seen = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as Seen;
    return { got: w.got, errors: w.errors, opens: w.opens, readyState: w.es.readyState };
  });

const frame = (evt: string) => `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`;

test("EventSource receives broadcasts and publishes, and reconnects by itself after a restart", async () => {
  let server: TestServer = await startTest("heartbeat: {interval: 1s}");
  const page = await browser.newPage();
  try {
    // Any page of the server's origin: the test's script opens the EventSource itself.
    await page.goto(`${server.url}/healthz`);
    await openEventSource(page, `/comet/sse?rid=lobby&token=${await token("es-user")}`);
    await waitFor(() => server.hub.sessions.get("es-user")?.rid === "lobby", "the browser's session", 8000);
    const evts = ["room", "line\nbreak ünïcødé 😀", '{"json":"inside"}'];
    await api(server, "Broadcast", { rid: "lobby", evt: evts[0] });
    await api(server, "Broadcast", { evt: evts[1] });
    await api(server, "Publish", { uid: "es-user", evt: evts[2] });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 3, undefined, { timeout: 5000 });
    let s = await seen(page);
    // The heartbeat comments fire no event: exactly the three PUSH frames.
    expect(s.got).toEqual(evts.map(frame));
    expect(s.readyState).toBe(1); // OPEN
    expect(s.opens).toBe(1);

    // The server goes and comes back on the same port: EventSource reconnects on its own.
    const port = server.port;
    await server.stop();
    await page.waitForFunction(() => (window as unknown as Seen).errors > 0, undefined, { timeout: 5000 });
    server = await startTest("heartbeat: {interval: 1s}", {}, { listen: `127.0.0.1:${port}` });
    await waitFor(() => server.hub.sessions.get("es-user")?.rid === "lobby", "the session back", 15_000);
    await api(server, "Broadcast", { rid: "lobby", evt: "after the restart" });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 4, undefined, { timeout: 5000 });
    s = await seen(page);
    expect(s.got.at(-1)).toBe(frame("after the restart"));
    expect(s.opens).toBe(2);
  } finally {
    await page.close();
    await server.stop();
  }
}, 40_000);

test("a cross-origin EventSource: an origin in allowed_origins gets the stream, another is refused for good", async () => {
  const pages = await startTest(); // serves the page's origin
  const listed = new URL(pages.url).origin;
  const server = await startTest(`allowed_origins: ["${listed}"]`);
  const other = await startTest(`allowed_origins: ["https://app.example.com"]`);
  const page = await browser.newPage();
  try {
    await page.goto(`${pages.url}/healthz`);
    await openEventSource(page, `${server.url}/comet/sse?token=${await token("cross")}`);
    await waitFor(() => server.hub.sessions.has("cross"), "the cross-origin session", 8000);
    await api(server, "Publish", { uid: "cross", evt: "across origins" });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 1, undefined, { timeout: 5000 });
    expect((await seen(page)).got).toEqual([frame("across origins")]);
    await page.evaluate(() => (window as unknown as Seen).es.close());

    // Refused (403): EventSource does not retry an HTTP error; no session was made.
    await openEventSource(page, `${other.url}/comet/sse?token=${await token("refused")}`);
    await page.waitForFunction(() => (window as unknown as Seen).es.readyState === 2, undefined, { timeout: 5000 });
    expect((await seen(page)).opens).toBe(0);
    expect(other.hub.sessions.size).toBe(0);
  } finally {
    await page.close();
    await Promise.all([pages.stop(), server.stop(), other.stop()]);
  }
}, 30_000);
