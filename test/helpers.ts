/**
 * Test helpers: a real server on port 0, real WebSocket clients, real HTTP. The server runs in
 * this process, or in a Deno process when COMET_TEST_RUNTIME=deno (test/support/remote.ts).
 */
import { SignJWT } from "jose";
import { loadConfig } from "../src/config/load.ts";
import type { Config } from "../src/config/schema.ts";
import { Hub } from "../src/hub/hub.ts";
import type { SessionLink } from "../src/hub/session.ts";
import { createLogger } from "../src/log.ts";
import { type RunningServer, startServer } from "../src/server.ts";
import { RemoteServer, settleFor, startRemote } from "./support/remote.ts";
import { TEST_RUNTIME } from "./support/runtime.ts";
import type { TestServer } from "./support/test-server.ts";
import { Arrivals } from "./support/arrivals.ts";

export type { TestServer } from "./support/test-server.ts";

export const SECRET = "test-secret-that-is-long-enough-0123456789";
export const ADMIN = "admin-token-for-tests";
export const NAMESPACE = "io.goeasy";

export function testConfig(yaml = "", env: Record<string, string> = {}, listen = "127.0.0.1:0"): Config {
  return loadConfig({
    yaml,
    env: { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN, ...env },
    overrides: { listen },
  });
}

export interface StartOptions {
  /** HOST:PORT to listen on (default 127.0.0.1:0), so that a test can restart a server where its clients expect it. */
  listen?: string;
  /** Collects the server's log lines (debug and up, JSON). */
  lines?: string[];
}

/** A server with the test secrets, on the runtime this run tests. */
export async function startTest(
  yaml = "",
  env: Record<string, string> = {},
  opts: StartOptions = {},
): Promise<TestServer> {
  const { listen = "127.0.0.1:0", lines } = opts;
  if (TEST_RUNTIME === "deno") return startRemote({ yaml, env, listen, log: lines !== undefined }, lines);
  const log = lines ? createLogger("debug", "json", (l) => lines.push(l)) : undefined;
  const s = await startServer(testConfig(yaml, env, listen), log);
  return Object.assign(s, { ws: `${s.url.replace("http", "ws")}/comet/Comet/Subscribe` });
}

/**
 * The server itself, for a test that reaches into it (gateway.sweep, hub.heard in a loop). Such a
 * test runs on Bun only: it belongs on the Bun-only list of test/support/suites.ts.
 */
export function inProcess(server: TestServer): RunningServer & { ws: string } {
  if (server.hub instanceof Hub) return server as unknown as RunningServer & { ws: string };
  throw new Error(
    "this test reaches into the server's process, which is a Deno process in this run: list it as Bun-only in test/support/suites.ts",
  );
}

const quietLink: SessionLink = { transport: "websocket", send() {}, subscribe() {}, unsubscribe() {}, kick() {} };

/** Sessions without sockets: thousands of them cost nothing, and the hub holds them like any other. */
export async function quietSessions(server: TestServer, sessions: Array<{ uid: string; rid?: string }>): Promise<void> {
  if (server instanceof RemoteServer) return server.command({ op: "quiet", sessions });
  const { hub } = inProcess(server);
  for (const { uid, rid } of sessions) {
    const s = hub.login(uid, quietLink);
    if (rid) hub.join(s, rid);
  }
}

export interface TokenOpts {
  iss?: string;
  exp?: number; // seconds from now; negative = expired
  nbf?: number;
  aud?: string;
  rooms?: unknown;
  secret?: string;
  noExp?: boolean;
}

export async function token(sub: string, o: TokenOpts = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {};
  if (o.rooms !== undefined) claims.rooms = o.rooms;
  let j = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(o.iss ?? NAMESPACE)
    .setIssuedAt(now);
  if (sub !== "") j = j.setSubject(sub);
  if (!o.noExp) j = j.setExpirationTime(now + (o.exp ?? 3600));
  if (o.nbf !== undefined) j = j.setNotBefore(now + o.nbf);
  if (o.aud) j = j.setAudience(o.aud);
  return j.sign(new TextEncoder().encode(o.secret ?? SECRET));
}

export interface Closed {
  code: number;
  reason: string;
}

/** A WebSocket client that records every frame and its close. */
export class Client {
  readonly ws: WebSocket;
  readonly frames: Array<Record<string, unknown>> = [];
  readonly raw: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<Closed>;
  private readonly arrivals = new Arrivals();
  private readonly settle: () => Promise<void> | undefined;
  closeInfo: Closed | undefined;

  constructor(url: string) {
    this.ws = new WebSocket(url);
    // A server in another process: what this client sees of it, the server's copy here must show
    // too before the test goes on (a close is seen after the session ended there, not after here).
    this.settle = () => settleFor(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.addEventListener("open", () => resolve(), { once: true });
      this.ws.addEventListener("error", () => reject(new Error(`cannot connect to ${url}`)), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.ws.addEventListener("close", (e) => {
        const info = { code: e.code, reason: e.reason };
        this.closeInfo = info;
        const settled = this.settle();
        if (settled) settled.then(() => resolve(info));
        else resolve(info);
        this.arrivals.wake();
      });
    });
    this.ws.addEventListener("message", (e) => {
      const text = typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer);
      this.raw.push(text);
      this.frames.push(JSON.parse(text));
      this.arrivals.wake();
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The evt of every PUSH received so far. */
  pushes(): string[] {
    return this.frames.filter((f) => f.t === "PUSH").map((f) => (f.push as { evt: string }).evt);
  }

  /** Waits until pred holds over the frames received, or fails after ms. */
  async until(pred: () => boolean, ms = 3000, what = "condition"): Promise<void> {
    await this.arrivals.until(pred, ms, what, () => `frames: ${JSON.stringify(this.raw)}`);
    const settled = this.settle();
    if (settled) await settled;
  }

  async waitPushes(n: number, ms = 3000): Promise<string[]> {
    await this.until(() => this.pushes().length >= n, ms, `${n} pushes`);
    return this.pushes();
  }

  async waitClose(ms = 3000): Promise<Closed> {
    return Promise.race([
      this.closed,
      new Promise<Closed>((_, rej) =>
        setTimeout(() => rej(new Error(`no close within ${ms}ms; frames: ${JSON.stringify(this.raw)}`)), ms),
      ),
    ]);
  }

  close(): void {
    this.ws.close();
  }
}

/** Opens a client and authenticates it; resolves once the server holds its session. */
export async function connect(
  server: TestServer,
  uid: string,
  opts: { rid?: string; token?: string } = {},
): Promise<Client> {
  const c = new Client(server.ws);
  await c.opened;
  const frame: Record<string, unknown> = { t: "AUTH", auth: { token: opts.token ?? (await token(uid)) } };
  if (opts.rid !== undefined) frame.join = { rid: opts.rid };
  c.send(frame);
  await waitFor(() => {
    const s = server.hub.sessions.get(uid);
    return s !== undefined && (opts.rid === undefined || s.rid === opts.rid);
  }, `session ${uid}`);
  return c;
}

export async function waitFor(pred: () => boolean, what = "condition", ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

export async function api(server: { url: string }, method: string, body: unknown, auth: string | null = ADMIN) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (auth !== null) headers.authorization = `Bearer ${auth}`;
  const res = await fetch(`${server.url}/comet/Comet/${method}`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, json: text ? JSON.parse(text) : undefined };
}

/** Reads a process stream until the text read so far matches; returns that text. */
export async function readUntil(stream: ReadableStream<Uint8Array>, re: RegExp, ms = 8000): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + ms;
  while (!re.test(text)) {
    if (Date.now() > deadline) throw new Error(`no ${re} in: ${text}`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`stream ended without ${re}: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return text;
}
