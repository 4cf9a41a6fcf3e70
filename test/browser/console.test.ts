/**
 * The operators' console in a real browser (Debian's Chromium driven by playwright-core): it asks
 * for the admin token once, shows a session that a real WebSocket client opens, its activity, the
 * traffic chart, presence and a stream's history; its Publish, Broadcast and Disconnect buttons act
 * (Disconnect closes the client 4410 with the reason); HTML in uids, rooms and events is shown as
 * text. Everything within the page's Content-Security-Policy. A screenshot is saved on failure.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";
import { ADMIN, api, type Client, connect, inProcess, startTest, type TestServer } from "../helpers.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTIFACTS = new URL("./artifacts/", import.meta.url).pathname;

let browser: Browser;
let server: TestServer;
const clients: Client[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM))
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--headless",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  server = await startTest("ui: {enabled: true}");
});

afterAll(async () => {
  for (const c of clients) c.close();
  await browser?.close();
  await server?.stop();
});

async function client(uid: string, rid?: string): Promise<Client> {
  const c = await connect(server, uid, rid === undefined ? {} : { rid });
  clients.push(c);
  return c;
}

/** A page at /console with the admin token given, and what it refused under its policy. */
async function openConsole(): Promise<{ page: Page; violations: string[] }> {
  const page = await browser.newPage();
  const violations: string[] = [];
  page.on("console", (m) => {
    if (m.text().includes("Content Security Policy")) violations.push(m.text());
  });
  await page.goto(`${server.url}/console`);
  await page.getByLabel("Admin token").fill(ADMIN);
  await page.getByRole("button", { name: "Open the console" }).click();
  await page.locator("#console").waitFor({ state: "visible", timeout: 5000 });
  return { page, violations };
}

async function withScreenshot(page: Page, name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: `${ARTIFACTS}${name}.png`, fullPage: true }).catch(() => {});
    throw err;
  }
}

test("the token is asked once; a session shows with its activity, presence, history and the traffic chart", async () => {
  const page = await browser.newPage();
  await withScreenshot(page, "console-live", async () => {
    await page.goto(`${server.url}/console`);
    // A wrong token is refused, and asked again.
    await page.getByLabel("Admin token").fill("not-the-admin-token");
    await page.getByRole("button", { name: "Open the console" }).click();
    await page.locator("#login-error", { hasText: "refused" }).waitFor({ timeout: 5000 });
    expect(await page.locator("#console").isHidden()).toBe(true);
    await page.getByLabel("Admin token").fill(ADMIN);
    await page.getByRole("button", { name: "Open the console" }).click();
    await page.locator("#live-state", { hasText: "live" }).waitFor({ timeout: 5000 });

    const c = await client("console-user", "ops-room");
    const row = page.locator("#instances tr", { hasText: "console-user" });
    await row.waitFor({ timeout: 6000 });
    expect(await row.locator("td").allTextContents()).toEqual([
      "console-user",
      "ops-room",
      "websocket",
      expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      "Disconnect…",
    ]);
    await page.locator("#instances h3", { hasText: `${inProcess(server).id} (this instance)` }).waitFor();
    await page.locator("#activity li[data-type=ONLINE]", { hasText: "console-user" }).waitFor({ timeout: 5000 });
    await page.locator("#activity li[data-type=ENTER_ROOM]", { hasText: "console-user in ops-room" }).waitFor();

    // Publish and Broadcast from the page reach the client.
    await page.getByLabel("To user").fill("console-user");
    await page.locator("#pub-evt").fill("from the console");
    await page.getByRole("button", { name: "Publish" }).click();
    await page.getByLabel("To room").fill("ops-room");
    await page.locator("#bc-evt").fill("to the room");
    await page.getByRole("button", { name: "Broadcast" }).click();
    expect(await c.waitPushes(2, 5000)).toEqual(["from the console", "to the room"]);

    // Presence by uid, and the user's stream history.
    await page.getByLabel("Search").fill("console-user nobody");
    await page.getByRole("button", { name: "Search" }).click();
    const online = page.locator("#presence tr", { hasText: "console-user" });
    await online.waitFor({ timeout: 5000 });
    expect(await online.textContent()).toContain(inProcess(server).id);
    await page.getByLabel("User id or room").fill("console-user");
    await page.getByRole("button", { name: "Show" }).click();
    await page.locator("#history li", { hasText: "from the console" }).waitFor({ timeout: 5000 });
    expect(await page.locator("#hist-head").textContent()).toContain("last seq 1");

    // The chart has samples, and the page kept the token: a reload does not ask again.
    await page.waitForFunction(() =>
      (document.querySelector("#chart-conn polyline")?.getAttribute("points") ?? "").includes(" "),
    );
    expect(Number(await page.locator("#conn-now").textContent())).toBeGreaterThanOrEqual(1);
    await page.reload();
    await page.locator("#instances tr", { hasText: "console-user" }).waitFor({ timeout: 6000 });
    expect(await page.locator("#login").isHidden()).toBe(true);
  });
  await page.close();
}, 60_000);

test("Disconnect from the page closes the session with 4410 and the reason", async () => {
  const { page, violations } = await openConsole();
  await withScreenshot(page, "console-disconnect", async () => {
    const c = await client("to-kick");
    await page.getByRole("button", { name: "Disconnect to-kick" }).click({ timeout: 6000 });
    expect(await page.getByLabel("Disconnect user").inputValue()).toBe("to-kick");
    await page.getByLabel("Reason").fill("maintenance window");
    await page.getByRole("button", { name: "Disconnect", exact: true }).click();
    expect(await c.waitClose(5000)).toEqual({ code: 4410, reason: "maintenance window" });
    await page.locator("#action-result", { hasText: "1 session(s) of to-kick" }).waitFor({ timeout: 5000 });
    await page.locator("#instances tr", { hasText: "to-kick" }).waitFor({ state: "detached", timeout: 6000 });
    expect(violations).toEqual([]);
  });
  await page.close();
}, 30_000);

test("HTML in uids, rooms and events is shown as text: no element made, the text visible", async () => {
  const uid = '<img src=x onerror="window.__pwned=1">';
  const rid = "<img src=x onerror=window.__pwned=2>";
  const evt = '<img src=x onerror="window.__pwned=3"><b>bold</b>';
  const { page, violations } = await openConsole();
  await withScreenshot(page, "console-text", async () => {
    const c = await client(uid, rid);
    await api(server, "Publish", { uid, evt });
    await c.waitPushes(1);
    await page.locator("#instances td", { hasText: uid }).waitFor({ timeout: 6000 });
    await page.locator("#activity li[data-type=ONLINE]", { hasText: uid }).waitFor({ timeout: 5000 });
    await page.getByLabel("Search").fill(rid);
    await page.getByLabel("By").selectOption("rid");
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator("#presence td", { hasText: uid }).waitFor({ timeout: 5000 });
    await page.getByLabel("User id or room").fill(uid);
    await page.getByRole("button", { name: "Show" }).click();
    await page.locator("#history li", { hasText: evt }).waitFor({ timeout: 5000 });

    for (const text of [uid, rid, evt]) {
      expect([text, await page.getByText(text, { exact: true }).first().isVisible()]).toEqual([text, true]);
    }
    expect(await page.evaluate(() => document.querySelectorAll("main img, main b").length)).toBe(0);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(violations).toEqual([]);
  });
  await page.close();
}, 30_000);
