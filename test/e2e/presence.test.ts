/**
 * Presence on one instance (no bridge): the Presence method over HTTP, the grace, and webhooks to
 * a real HTTP receiver. Real server, real WebSockets.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { verifyWebhook } from "../../src/webhooks/signature.ts";
import { metric, waitFor as waitUntil } from "../bridge/util.ts";
import { api, type Client, connect, type TestServer, startTest } from "../helpers.ts";
import { Receiver } from "../webhooks/receiver.ts";

const HOOK_SECRET = "presence-webhook-secret-0123";
const GRACE_MS = 400;
let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  receiver = new Receiver();
  server = await startTest(`
presence: {offline_grace: ${GRACE_MS}ms}
webhooks:
  - {url: "${receiver.url}", events: [presence.ONLINE, presence.OFFLINE, ONLINE, OFFLINE], secret: "${HOOK_SECRET}", timeout: 2s}
`);
});

afterAll(async () => {
  await server?.stop();
  receiver?.stop();
});

const presence = (body: unknown, auth?: string | null) => api(server, "Presence", body, auth);
const closeAll = async (...cs: Client[]) => {
  for (const c of cs) c.close();
  await Promise.all(cs.map((c) => c.closed));
};
const hookEvents = (uid: string, kind: string) => receiver.events().filter((e) => e.uid === uid && e.kind === kind);

describe("POST /comet/Comet/Presence", () => {
  test("by uids: the online ones, sorted by uid in UTF-8 byte order, each with its room, server and since", async () => {
    const before = BigInt(Date.now()) * 1_000_000n;
    const z = await connect(server, "p-z", { rid: "r-p" });
    const a = await connect(server, "p-a");
    const emoji = await connect(server, "p-\u{1F600}");
    const fffd = await connect(server, "p-\uFFFD");
    const res = await presence({ uids: ["p-z", "p-\u{1F600}", "p-\uFFFD", "nobody", "p-a", "p-a"] });
    expect(res.status).toBe(200);
    const online = res.json.online as Array<Record<string, string>>;
    expect(online.map((o) => [o.uid, o.rid])).toEqual([
      ["p-a", ""],
      ["p-z", "r-p"],
      ["p-\uFFFD", ""],
      ["p-\u{1F600}", ""],
    ]);
    for (const o of online) {
      expect(Object.keys(o)).toEqual(["uid", "rid", "server", "since"]);
      expect(o.server).toBe(online[0]!.server);
      expect(BigInt(o.since as string) >= before - 1_000_000_000n).toBe(true);
    }
    expect((await presence({ rid: "r-p" })).json).toEqual({ online: [online[1]] });
    expect((await presence({ rid: "empty-room" })).json).toEqual({ online: [] });
    await closeAll(z, a, emoji, fffd);
  });

  test("each kind of bad request is refused 400 with the reason; no token 401; GET 405", async () => {
    const cases: Array<[unknown, string]> = [
      [{ uids: "p-a" }, "uids must be an array of strings, got string"],
      [{ uids: ["p-a", 7] }, "uids[1] must be a non-empty string, got number"],
      [{ uids: [""] }, 'uids[0] must be a non-empty string, got ""'],
      [{ uids: Array.from({ length: 1001 }, (_, i) => `u${i}`) }, "uids: at most 1000, got 1001"],
      [{ rid: 5 }, "rid must be a string, got number"],
      [{ uids: ["p-a"], rid: "r" }, "give uids or rid, not both"],
      [{}, "uids or rid is required"],
      [{ uids: [], rid: "" }, "uids or rid is required"],
      ["[1]", "body must be a JSON object"],
      ["{", "body is not valid JSON"],
    ];
    for (const [body, detail] of cases) {
      const res = await presence(body);
      expect([res.status, res.json.detail]).toEqual([400, detail]);
    }
    expect((await presence({ uids: Array.from({ length: 1000 }, (_, i) => `u${i}`) })).status).toBe(200);
    expect((await presence({ uids: ["p-a"] }, null)).status).toBe(401);
    expect((await presence({ uids: ["p-a"] }, "wrong-token-0123456789")).status).toBe(401);
    const get = await fetch(`${server.url}/comet/Comet/Presence`);
    expect(get.status).toBe(405);
  });
});

describe("the grace and webhooks", () => {
  test("a reconnect within the grace is no presence transition and no webhook; away past it: exactly one OFFLINE, signed", async () => {
    const flaps = await metric(server, "comet_presence_flaps_suppressed_total");
    const first = await connect(server, "flapper");
    await waitUntil(() => hookEvents("flapper", "presence").length === 1, "the presence ONLINE webhook");
    const [online] = hookEvents("flapper", "presence");
    expect(online).toMatchObject({ type: "ONLINE", uid: "flapper", rid: "", kind: "presence" });
    expect(Object.keys(online!)).toEqual(["type", "uid", "rid", "server", "time", "since", "kind"]);
    expect(online!.since).toBe(online!.time);
    for (let i = 0; i < 3; i++) {
      const c = i === 0 ? first : await connect(server, "flapper");
      c.close();
      await c.closed;
      await Bun.sleep(GRACE_MS / 4);
    }
    const last = await connect(server, "flapper");
    await Bun.sleep(GRACE_MS + 200);
    expect(hookEvents("flapper", "presence")).toHaveLength(1);
    expect(await metric(server, "comet_presence_flaps_suppressed_total")).toBe(flaps + 3);
    // The activity webhooks saw every session come and go.
    expect(hookEvents("flapper", "activity").map((e) => e.type)).toEqual([
      "ONLINE",
      "OFFLINE",
      "ONLINE",
      "OFFLINE",
      "ONLINE",
      "OFFLINE",
      "ONLINE",
    ]);
    last.close();
    await last.closed;
    const gone = Date.now();
    await waitUntil(() => hookEvents("flapper", "presence").length === 2, "the presence OFFLINE webhook", 5000);
    expect(Date.now() - gone).toBeGreaterThanOrEqual(GRACE_MS - 50);
    const offline = hookEvents("flapper", "presence")[1]!;
    expect(offline).toMatchObject({ type: "OFFLINE", uid: "flapper", since: online!.since, server: online!.server });
    await Bun.sleep(GRACE_MS);
    expect(hookEvents("flapper", "presence")).toHaveLength(2);
    for (const p of receiver.acknowledged()) {
      expect(verifyWebhook(HOOK_SECRET, p.body, p.signature)).toBe(true);
    }
    expect((await presence({ uids: ["flapper"] })).json).toEqual({ online: [] });
  });

  test("metrics: users online (local and cluster view), webhook deliveries and latency", async () => {
    const c = await connect(server, "counted");
    expect(await metric(server, "comet_presence_online", { view: "local" })).toBeGreaterThanOrEqual(1);
    expect(await metric(server, "comet_presence_online", { view: "cluster" })).toBeGreaterThanOrEqual(1);
    await waitUntil(() => hookEvents("counted", "presence").length === 1, "counted's ONLINE webhook");
    const label = { webhook: receiver.url };
    await waitUntil(
      async () => (await metric(server, "comet_webhook_deliveries_total", label)) === receiver.events().length,
      "the deliveries counted",
    );
    expect(await metric(server, "comet_webhook_request_duration_seconds_count", { ...label, outcome: "ok" })).toBe(
      receiver.acknowledged().length,
    );
    expect(await metric(server, "comet_presence_transitions_total", { type: "ONLINE" })).toBeGreaterThanOrEqual(1);
    await closeAll(c);
  });
});
