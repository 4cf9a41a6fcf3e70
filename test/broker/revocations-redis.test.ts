/**
 * Revocations kept in Redis (history.store: redis), on a real redis-server and two instances with
 * no MQTT bridge (so that Redis is the only way between them): refused on both, read again by a
 * restarted instance before it is ready, lapsing with auth.revocation_ttl, refused whole (503)
 * while Redis is away, and written back to a Redis that restarted empty.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { api, connect, token } from "../helpers.ts";
import { authOutcome, tokenIssuedAt } from "../support/revoked.ts";
import { type Comet, startComet, waitFor, waitReadyz } from "../bridge/util.ts";
import { TestRedis } from "./redis-server.ts";

const REVOKED = { code: 4401, reason: "token revoked" };
let redis: TestRedis;
let yaml: string;
let a: Comet;
let b: Comet;

/** A token of uid issued after `at` (iat counts whole seconds). */
const after = (uid: string, at: number) => tokenIssuedAt(uid, Math.floor(at / 1000) + 1);

const listed = async (s: Comet): Promise<Array<{ uid: string; at: string; expires: string }>> =>
  (await api(s, "Revocations", {})).json.revocations as Array<{ uid: string; at: string; expires: string }>;
const uids = async (s: Comet) => (await listed(s)).map((r) => r.uid);

beforeAll(async () => {
  redis = await TestRedis.start();
  yaml = `history: {store: redis, redis: {urls: ["${redis.url}"], prefix: rv}}`;
  [a, b] = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
});
afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.stop();
});

test("a revoke on A is kept in Redis and refuses the old token on B too; a newer token works; both list it", async () => {
  const old = await token("rr-1");
  const c = await connect(a, "rr-1", { token: old });
  const r = await api(a, "Disconnect", { uid: "rr-1", revoke: true, reason: "compromised" });
  const at = Date.now();
  expect(r.json).toEqual({ disconnected: 1 });
  expect(await c.waitClose(5000)).toEqual({ code: 4410, reason: "compromised" });
  // Announced on pub/sub: B has it within moments of the answer.
  await waitFor(async () => (await uids(b)).includes("rr-1"), "b has it", 1000);
  for (const s of [a, b]) expect(await authOutcome(s, "rr-1", old)).toEqual(REVOKED);
  for (const s of [a, b]) expect(await authOutcome(s, "rr-1", await after("rr-1", at))).toBe("live");
  const [onA, onB] = [await listed(a), await listed(b)];
  expect(onA.map((x) => x.uid)).toEqual(["rr-1"]);
  expect(onB).toEqual(onA);
  // In Redis: {at, expires}, expiring with it.
  const client = await redis.client();
  const kept = JSON.parse((await client.get("rv:revoked:rr-1")) ?? "null");
  expect(kept).toEqual({ at: Date.parse(onA[0]?.at ?? ""), expires: Date.parse(onA[0]?.expires ?? "") });
  expect(await client.pExpireTime("rv:revoked:rr-1")).toBe(kept.expires);
});

test("a restarted instance reads the revocations from Redis before it is ready", async () => {
  const old = await token("rr-2");
  expect((await api(b, "Disconnect", { uid: "rr-2", revoke: true })).json).toEqual({ disconnected: 0 });
  await a.stop();
  a = await startComet(yaml);
  await waitReadyz(a, 200);
  // Ready means read: no wait here.
  expect(await authOutcome(a, "rr-2", old)).toEqual(REVOKED);
  expect(await uids(a)).toEqual(["rr-1", "rr-2"]);
});

test("with a short auth.revocation_ttl a revocation lapses everywhere, and its key in Redis with it", async () => {
  const e = await startComet(`auth: {revocation_ttl: 1500ms}\n${yaml}`);
  try {
    await waitReadyz(e, 200);
    const old = await token("rr-3");
    expect((await api(e, "Disconnect", { uid: "rr-3", revoke: true })).json).toEqual({ disconnected: 0 });
    const entry = (await listed(e)).find((x) => x.uid === "rr-3");
    const expires = Date.parse(entry?.expires ?? "");
    expect(expires - Date.parse(entry?.at ?? "")).toBe(1500);
    // B has it with E's expiry, not its own 24h.
    await waitFor(async () => (await uids(b)).includes("rr-3"), "b has it", 1000);
    expect((await listed(b)).find((x) => x.uid === "rr-3")?.expires).toBe(entry?.expires);
    expect(await authOutcome(b, "rr-3", old)).toEqual(REVOKED);
    await Bun.sleep(Math.max(0, expires - Date.now() + 50));
    for (const s of [e, b]) expect(await authOutcome(s, "rr-3", old)).toBe("live");
    expect(await uids(b)).not.toContain("rr-3");
    expect(await (await redis.client()).exists("rv:revoked:rr-3")).toBe(0);
  } finally {
    await e.stop();
  }
});

test("Redis away: a Disconnect with revoke answers 503 and neither revokes nor closes; back empty, what the instances hold is written again", {
  timeout: 20_000,
}, async () => {
  const c = await connect(a, "rr-4", { token: await token("rr-4") });
  redis.pause();
  try {
    const r = await api(a, "Disconnect", { uid: "rr-4", revoke: true, reason: "r" });
    expect(r.status).toBe(503);
    expect(r.json).toMatchObject({ code: 503, detail: "history store unavailable" });
    expect(c.closeInfo).toBeUndefined();
    expect(await uids(a)).not.toContain("rr-4");
  } finally {
    redis.resume();
  }
  c.close();
  // Back empty (a restart without persistence): each instance writes back what it holds.
  await redis.restart();
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  await waitFor(
    async () => (await (await redis.client()).exists(["rv:revoked:rr-1", "rv:revoked:rr-2"])) === 2,
    "rr-1 and rr-2 written again",
    8000,
  );
});
