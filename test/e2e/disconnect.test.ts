/**
 * An operator's Disconnect and revocations on one instance (docs/protocol.md, "Disconnect and
 * revocations"), over real sockets: a WebSocket closed 4410 with the reason, an SSE stream ended
 * by `event: close`, the API's refusals, and revoked tokens refused 4401 until the revocation lapses.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SignJWT } from "jose";
import { api, Client, connect, NAMESPACE, SECRET, startTest, type TestServer, token, waitFor } from "../helpers.ts";
import { StreamClient } from "../support/stream-client.ts";

/** A subscriber token issued at `iat` (seconds; undefined: no iat claim at all). */
export async function tokenIssuedAt(uid: string, iat: number | undefined): Promise<string> {
  let j = new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(NAMESPACE)
    .setSubject(uid)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600);
  if (iat !== undefined) j = j.setIssuedAt(iat);
  return j.sign(new TextEncoder().encode(SECRET));
}

/** The close of a fresh WebSocket that AUTHs with tok, or undefined when it went live instead. */
export async function authOutcome(server: TestServer, uid: string, tok: string): Promise<{ code: number; reason: string } | "live"> {
  const c = new Client(server.ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: tok } });
  const live = waitFor(() => server.hub.sessions.has(uid), `session ${uid}`, 3000).then(() => "live" as const);
  const out = await Promise.race([live.catch(() => c.closed), c.closed]);
  if (out === "live") {
    c.close();
    await c.closed;
  }
  return out;
}

describe("Disconnect", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest();
  });
  afterAll(() => server?.stop());

  test("a WebSocket session is closed 4410 with the operator's reason; the answer counts it", async () => {
    const c = await connect(server, "dc-ws");
    const r = await api(server, "Disconnect", { uid: "dc-ws", reason: "account suspended: see support" });
    expect([r.status, r.json]).toEqual([200, { disconnected: 1 }]);
    expect(await c.waitClose()).toEqual({ code: 4410, reason: "account suspended: see support" });
    expect(server.hub.sessions.has("dc-ws")).toBe(false);
    // Nobody left: not an error, nothing closed.
    expect((await api(server, "Disconnect", { uid: "dc-ws" })).json).toEqual({ disconnected: 0 });
  });

  test("without a reason, the close says an operator did it", async () => {
    const c = await connect(server, "dc-default");
    expect((await api(server, "Disconnect", { uid: "dc-default", reason: null })).json).toEqual({ disconnected: 1 });
    expect(await c.waitClose()).toEqual({ code: 4410, reason: "disconnected by an operator" });
  });

  test("an SSE stream ends with event: close carrying the code and reason; NDJSON just ends", async () => {
    const tok = await token("dc-sse");
    const es = new StreamClient(server.url, { path: "/comet/sse", bearer: tok, kind: "sse" });
    await es.opened;
    await waitFor(() => server.hub.sessions.has("dc-sse"), "sse session");
    expect((await api(server, "Disconnect", { uid: "dc-sse", reason: "bye, é 😀" })).json).toEqual({
      disconnected: 1,
    });
    await es.waitEnd();
    const last = es.events.at(-1);
    expect(last?.event).toBe("close");
    expect(JSON.parse(last?.data ?? "")).toEqual({ code: 4410, reason: "bye, é 😀" });

    const nd = new StreamClient(server.url, { path: "/comet/Comet/Subscribe", bearer: await token("dc-nd"), kind: "ndjson" });
    await nd.opened;
    await waitFor(() => server.hub.sessions.has("dc-nd"), "ndjson session");
    expect((await api(server, "Disconnect", { uid: "dc-nd" })).json).toEqual({ disconnected: 1 });
    await nd.waitEnd();
  });

  test("bad requests are answered as the API's errors: 400 with the field named, 401 without the token, 405", async () => {
    const bad = async (body: unknown, detail: string) => {
      const r = await api(server, "Disconnect", body);
      expect([r.status, r.json]).toEqual([
        400,
        { id: "comet.bad_request", code: 400, detail, status: "Bad Request" },
      ]);
    };
    await bad({}, "uid is required");
    await bad({ uid: "" }, "uid is required");
    await bad({ uid: 7 }, "uid must be a string, got number");
    await bad({ uid: "u", reason: ["x"] }, "reason must be a string, got array");
    await bad({ uid: "u", revoke: "yes" }, "revoke must be a boolean, got string");
    await bad({ uid: "u", reason: "é".repeat(62) }, "reason over 123 bytes (UTF-8): a close frame holds no more");
    await bad("[1]", "body must be a JSON object");
    // 123 bytes exactly is a reason a close frame holds.
    expect((await api(server, "Disconnect", { uid: "u", reason: `${"é".repeat(61)}x` })).status).toBe(200);
    expect((await api(server, "Disconnect", { uid: "u" }, null)).status).toBe(401);
    expect((await api(server, "Revocations", {}, "wrong-token-0123456789")).status).toBe(401);
    expect((await fetch(`${server.url}/comet/Comet/Disconnect`)).status).toBe(405);
  });
});

describe("revoke", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest("auth: {revocation_ttl: 2s}");
  });
  afterAll(() => server?.stop());

  test("refuses the uid's tokens issued until then (4401 token revoked), a later token works, and it lapses after revocation_ttl", async () => {
    const old = await token("rv-1");
    const noIat = await tokenIssuedAt("rv-1", undefined);
    const c = await connect(server, "rv-1", { token: old });
    const r = await api(server, "Disconnect", { uid: "rv-1", revoke: true, reason: "stolen token" });
    expect(r.json).toEqual({ disconnected: 1 });
    expect(await c.waitClose()).toEqual({ code: 4410, reason: "stolen token" });
    const revokedAt = Date.now();
    expect(await authOutcome(server, "rv-1", old)).toEqual({ code: 4401, reason: "token revoked" });
    expect(await authOutcome(server, "rv-1", noIat)).toEqual({ code: 4401, reason: "token revoked" });
    // Someone else's token is not touched.
    expect(await authOutcome(server, "rv-other", await token("rv-other"))).toBe("live");
    // Issued after: iat has a resolution of a second, so the next second's token is the first that works.
    expect(await authOutcome(server, "rv-1", await tokenIssuedAt("rv-1", Math.floor(revokedAt / 1000) + 1))).toBe("live");

    const list = await api(server, "Revocations", {});
    expect(list.status).toBe(200);
    const [entry, ...more] = list.json.revocations as Array<{ uid: string; at: string; expires: string }>;
    expect(more).toEqual([]);
    expect(entry?.uid).toBe("rv-1");
    expect(Date.parse(entry?.expires ?? "") - Date.parse(entry?.at ?? "")).toBe(2000);
    expect(Math.abs(Date.parse(entry?.at ?? "") - revokedAt)).toBeLessThan(1000);

    await Bun.sleep(Math.max(0, Date.parse(entry?.expires ?? "") - Date.now() + 50));
    expect(await authOutcome(server, "rv-1", old)).toBe("live");
    expect((await api(server, "Revocations", "")).json).toEqual({ revocations: [] });
  });

  test("a live session's re-AUTH with a revoked token is closed 4401", async () => {
    const old = await token("rv-2");
    // Revoked while the user is away: nothing to close. A session with a later token then sends
    // the old one in a re-AUTH.
    expect((await api(server, "Disconnect", { uid: "rv-2", revoke: true })).json).toEqual({ disconnected: 0 });
    const fresh = await tokenIssuedAt("rv-2", Math.floor(Date.now() / 1000) + 1);
    const d = await connect(server, "rv-2", { token: fresh });
    d.send({ t: "AUTH", auth: { token: old } });
    expect(await d.waitClose()).toEqual({ code: 4401, reason: "token revoked" });
  });
});
