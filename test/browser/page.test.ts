/**
 * The demo page in a real browser: Debian's Chromium driven by playwright-core (no browser
 * download). The page connects, receives a broadcast, shows the session in the dump view, and
 * reconnects after the server restarts. A screenshot is saved on failure.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { loadConfig } from "../../src/config/load.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { ADMIN, api, SECRET, waitFor } from "../helpers.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;

const start = (port: number) =>
  startServer(
    loadConfig({
      yaml: "ui: {enabled: true}\nheartbeat: {interval: 2s}",
      env: { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN },
      overrides: { listen: `127.0.0.1:${port}` },
    }),
  );

let browser: Browser;
let server: RunningServer;

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  server = await start(0);
});

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

/** What the browser reports refusing under the page's Content-Security-Policy, by page. */
const violations = new WeakMap<Page, string[]>();
async function newPage(): Promise<Page> {
  const page = await browser.newPage();
  const seen: string[] = [];
  violations.set(page, seen);
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) seen.push(m.text());
  });
  return page;
}

async function withScreenshot(page: Page, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
    // Everything the page did, it did within its own policy.
    expect(violations.get(page) ?? []).toEqual([]);
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true }).catch(() => {});
    throw err;
  }
}

test("the page connects, receives a broadcast, shows the session, and reconnects after a restart", async () => {
  const page = await newPage();
  await withScreenshot(page, "page", async () => {
    const port = server.port;
    await page.goto(`${server.url}/`);
    await page.getByLabel("Admin token").fill(ADMIN);
    await page.getByLabel("User id").fill("browser-user");
    await page.getByLabel("Room", { exact: true }).fill("lobby");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await page.getByRole("status").filter({ hasText: "open" }).waitFor({ timeout: 5000 });
    await waitFor(
      () => (server.hub.sessions.get("browser-user")?.rid ?? null) === "lobby",
      'server.hub.sessions.get("browser-user")?.rid ?? null',
      5000,
    );

    await api(server, "Broadcast", { rid: "lobby", evt: "hello browser" });
    await page.locator("#events li[data-kind=push]", { hasText: "hello browser" }).waitFor({ timeout: 5000 });

    // The dump view lists the session (it refreshes every 2 s).
    await page.locator("#dump td", { hasText: "browser-user" }).first().waitFor({ timeout: 6000 });

    // The page's publish form reaches the page's own subscriber.
    await page.getByLabel("To user").fill("browser-user");
    await page.locator("#pub-evt").fill("from the form");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.locator("#events li[data-kind=push]", { hasText: "from the form" }).waitFor({ timeout: 5000 });

    // Restart the server on the same port: the client reconnects and rejoins its room.
    await server.stop();
    await page.locator("#state", { hasText: "reconnecting" }).waitFor({ timeout: 5000 });
    server = await start(port);
    await waitFor(
      () => (server.hub.sessions.get("browser-user")?.rid ?? null) === "lobby",
      'server.hub.sessions.get("browser-user")?.rid ?? null',
      15_000,
    );
    await page.locator("#state", { hasText: "open" }).waitFor({ timeout: 5000 });
    await api(server, "Broadcast", { rid: "lobby", evt: "after the restart" });
    await page.locator("#events li[data-kind=push]", { hasText: "after the restart" }).waitFor({ timeout: 5000 });
  });
  await page.close();
}, 60_000);

test("a JOIN from the page moves the session; a bad pasted token shows the 4401", async () => {
  const page = await newPage();
  await withScreenshot(page, "join", async () => {
    await page.goto(`${server.url}/`);
    await page.getByLabel("Admin token").fill(ADMIN);
    await page.getByLabel("User id").fill("mover");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await waitFor(() => server.hub.sessions.has("mover") === true, 'server.hub.sessions.has("mover")', 5000);
    await page.getByLabel("Join room").fill("elsewhere");
    await page.getByRole("button", { name: "Join", exact: true }).click();
    await waitFor(
      () => (server.hub.sessions.get("mover")?.rid ?? null) === "elsewhere",
      'server.hub.sessions.get("mover")?.rid ?? null',
      5000,
    );
    await page.getByRole("button", { name: "Disconnect" }).click();
    await waitFor(() => server.hub.sessions.has("mover") === false, 'server.hub.sessions.has("mover")', 5000);

    await page.getByLabel("Subscriber token (JWT)").fill("not-a-jwt");
    await page.getByRole("button", { name: "Connect", exact: true }).click();
    await page.locator("#why", { hasText: "4401" }).waitFor({ timeout: 5000 });
    await expect(page.locator("#state").textContent()).resolves.toBe("closed");
  });
  await page.close();
}, 30_000);

test("the page's policy holds: an injected script does not run, the admin token cannot leave for another origin, no site can frame it", async () => {
  const page = await newPage();
  await page.goto(`${server.url}/`);
  await page.getByLabel("Admin token").fill(ADMIN);
  // An inline script, as a markup injection would add one.
  await page.evaluate(() => {
    const s = document.createElement("script");
    s.textContent = "window.injected = true";
    document.body.append(s);
  });
  expect(await page.evaluate(() => (window as { injected?: boolean }).injected)).toBeUndefined();
  // The token sent to another origin (the same server by another name): no-cors would let it out.
  const elsewhere = server.url.replace("127.0.0.1", "localhost");
  const leaked = await page.evaluate(
    (url) =>
      fetch(url, {
        method: "POST",
        mode: "no-cors",
        body: (document.getElementById("admin") as HTMLInputElement).value,
      })
        .then(() => "sent")
        .catch(() => "refused"),
    `${elsewhere}/healthz`,
  );
  expect(leaked).toBe("refused");
  const refused = (violations.get(page) ?? []).join("\n");
  expect(refused).toContain("script-src 'self'");
  expect(refused).toContain("connect-src 'self'");
  await page.close();

  // Framed by another page: /healthz (no policy) shows in a frame, the demo page does not.
  const framer = await browser.newPage();
  await framer.setContent(`<iframe src="${server.url}/healthz"></iframe><iframe src="${server.url}/"></iframe>`);
  const [health, demo] = framer.frames().slice(1);
  expect(await health?.locator("body").textContent()).toContain('"status":"ok"');
  expect(await demo?.locator("h1", { hasText: "Comet" }).count()).toBe(0);
  await framer.close();
}, 30_000);

test("the page and the SDK are served; /ui/token needs the admin token", async () => {
  const html = await fetch(`${server.url}/`);
  expect(html.headers.get("content-type")).toContain("text/html");
  expect(await html.text()).toContain('<script type="module" src="/ui/page.js"></script>');
  const script = await fetch(`${server.url}/ui/page.js`);
  expect(script.headers.get("content-type")).toContain("javascript");
  expect(await script.text()).toContain('import { CometClient } from "/comet-client.js"');
  const js = await fetch(`${server.url}/comet-client.js`);
  expect(js.headers.get("content-type")).toContain("javascript");
  expect(await js.text()).toContain("class CometClient");
  expect((await fetch(`${server.url}/ui/token`, { method: "POST", body: '{"uid":"x"}' })).status).toBe(401);
  const ok = await fetch(`${server.url}/ui/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
    body: '{"uid":"x"}',
  });
  expect(ok.status).toBe(200);
  expect(((await ok.json()) as { token: string }).token.split(".")).toHaveLength(3);
  const noUid = await fetch(`${server.url}/ui/token`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
    body: "{}",
  });
  expect(noUid.status).toBe(400);
});
