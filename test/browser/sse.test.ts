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

type Seen = { got: string[]; gaps: string[]; errors: number; opens: number; es: EventSource };

/** Opens an EventSource in the page; what it receives collects in window.got. */
async function openEventSource(page: Page, url: string): Promise<void> {
  await page.evaluate((u) => {
    const w = window as unknown as Seen;
    w.got = [];
    w.gaps = [];
    w.errors = 0;
    w.opens = 0;
    w.es = new EventSource(u);
    w.es.onopen = () => w.opens++;
    w.es.onmessage = (e) => w.got.push(e.data as string);
    w.es.onerror = () => w.errors++;
    w.es.addEventListener("gap", (e) => w.gaps.push((e as MessageEvent).data as string));
  }, url);
}

const seen = (page: Page) =>
  page.evaluate(() => {
    const w = window as unknown as Seen;
    return {
      got: w.got,
      gaps: w.gaps,
      errors: w.errors,
      opens: w.opens,
      readyState: w.es.readyState,
    };
  });

/** The evt of each PUSH frame (a stream's frames carry their positions too). */
const evts = (frames: string[]) => frames.map((f) => (JSON.parse(f) as { push: { evt: string } }).push.evt);

test("EventSource receives broadcasts and publishes, recovers by itself (Last-Event-ID) after a cut, and hears the gap after a restart", async () => {
  let server: TestServer = await startTest("heartbeat: {interval: 1s}");
  const page = await browser.newPage();
  try {
    // Any page of the server's origin: the test's script opens the EventSource itself.
    await page.goto(`${server.url}/healthz`);
    await openEventSource(page, `/comet/sse?rid=lobby&token=${await token("es-user")}`);
    await waitFor(() => server.hub.sessions.get("es-user")?.rid === "lobby", "the browser's session", 8000);
    const sent = ["room", "line\nbreak ünïcødé 😀", '{"json":"inside"}'];
    await api(server, "Broadcast", { rid: "lobby", evt: sent[0] });
    await api(server, "Broadcast", { evt: sent[1] });
    await api(server, "Publish", { uid: "es-user", evt: sent[2] });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 3, undefined, { timeout: 5000 });
    let s = await seen(page);
    // The heartbeat comments fire no event: exactly the three PUSH frames.
    expect(evts(s.got)).toEqual(sent);
    expect(s.readyState).toBe(1); // OPEN
    expect(s.opens).toBe(1);

    // The server ends the stream: EventSource reconnects on its own with Last-Event-ID, and what
    // was published meanwhile arrives, with no gap.
    for (const c of server.gateway.connections) if (c.uid === "es-user") c.close(1000, "cut by the test");
    await waitFor(() => !server.hub.sessions.has("es-user"), "the session to end", 5000);
    await api(server, "Publish", { uid: "es-user", evt: "while away" });
    await api(server, "Broadcast", { rid: "lobby", evt: "room while away" });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 5, undefined, { timeout: 10_000 });
    s = await seen(page);
    expect(evts(s.got).slice(3)).toEqual(["while away", "room while away"]);
    expect(s.gaps).toEqual([]);
    expect(s.opens).toBe(2);

    // The server goes and comes back on the same port: EventSource reconnects on its own; its
    // positions belong to the old process, so the first event is the gap.
    const port = server.port;
    await server.stop();
    await page.waitForFunction(() => (window as unknown as Seen).errors > 0, undefined, { timeout: 5000 });
    server = await startTest("heartbeat: {interval: 1s}", {}, { listen: `127.0.0.1:${port}` });
    await waitFor(() => server.hub.sessions.get("es-user")?.rid === "lobby", "the session back", 15_000);
    await api(server, "Broadcast", { rid: "lobby", evt: "after the restart" });
    await page.waitForFunction(() => (window as unknown as Seen).got.length === 6, undefined, { timeout: 5000 });
    s = await seen(page);
    expect(evts(s.got).at(-1)).toBe("after the restart");
    expect(s.gaps.map((g) => JSON.parse(g))).toEqual([
      { t: "HB", hb: { recovered: { u: false, r: false, w: false } } },
    ]);
    expect(s.opens).toBe(3);
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
    expect(evts((await seen(page)).got)).toEqual(["across origins"]);
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
