/**
 * Webhooks of a real server to a real HTTP receiver: a backend that fails for 5 s then recovers
 * gets every event once and in order; one that never answers costs bounded memory and is counted.
 */
import { afterEach, expect, test } from "bun:test";
import { metric, waitFor } from "../bridge/util.ts";
import { type Client, connect, type TestServer, startTest } from "../helpers.ts";
import { Receiver } from "../webhooks/receiver.ts";

const HOOK_SECRET = "webhook-test-secret-0123456";
let server: TestServer | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await server?.stop();
  receiver?.stop();
});

async function start(events: string[], extra = "", timeout = "2s"): Promise<[TestServer, Receiver]> {
  receiver = new Receiver();
  server = await startTest(`
${extra}
webhooks:
  - {url: "${receiver.url}", events: ${JSON.stringify(events)}, secret: "${HOOK_SECRET}", timeout: ${timeout}}
`);
  return [server, receiver];
}

test("a receiver that answers 500 for 5 s, then 200, gets every event once, in order", async () => {
  const [s, r] = await start(["ONLINE", "OFFLINE", "ENTER_ROOM", "LEAVE_ROOM"]);
  r.answer = 500;
  const failedAt = Date.now();
  const expected: string[] = [];
  // Events keep coming while the backend is down.
  while (Date.now() - failedAt < 5000) {
    const i = expected.length / 4;
    const c: Client = await connect(s, `w${i}`, { rid: `room-${i}` });
    c.close();
    await c.closed;
    expected.push(`ONLINE w${i}`, `ENTER_ROOM w${i}`, `LEAVE_ROOM w${i}`, `OFFLINE w${i}`);
    await Bun.sleep(250);
  }
  r.answer = 200;
  await waitFor(() => r.events().length >= expected.length, `${expected.length} events`, 15_000);
  await Bun.sleep(300);
  expect(r.events().map((e) => `${e.type} ${e.uid}`)).toEqual(expected);
  expect(r.posts.filter((p) => p.status === 500).length).toBeGreaterThanOrEqual(3);
  const label = { webhook: r.url };
  expect(await metric(s, "comet_webhook_retries_total", label)).toBeGreaterThanOrEqual(3);
  expect(await metric(s, "comet_webhook_deliveries_total", label)).toBe(expected.length);
  expect(await metric(s, "comet_webhook_dropped_total", { ...label, reason: "retries_exhausted" })).toBe(0);
}, 30_000);

test("a receiver that never answers: at most 10,000 events wait, the overflow is dropped and counted, the server serves on", async () => {
  const [s, r] = await start(["HEARD"], "limits: {uplink_rate: 0}", "1s");
  r.answer = "hang";
  const c = await connect(s, "chatty");
  const frames = 10_500;
  for (let i = 0; i < frames; i++) c.send({ t: "HB" });
  const label = { webhook: r.url };
  await waitFor(
    async () =>
      (await metric(s, "comet_webhook_queue_length", label)) +
        (await metric(s, "comet_webhook_dropped_total", { ...label, reason: "queue_full" })) >=
      frames,
    "every HEARD queued or dropped",
    10_000,
  );
  expect(await metric(s, "comet_webhook_queue_length", label)).toBeLessThanOrEqual(10_000);
  expect(await metric(s, "comet_webhook_dropped_total", { ...label, reason: "queue_full" })).toBeGreaterThanOrEqual(
    frames - 10_000,
  );
  // The socket, the hub and the API are not held by the stuck backend.
  c.send({ t: "HB" });
  const other = await connect(s, "other");
  expect(s.hub.sessions.has("other")).toBe(true);
  expect(await metric(s, "comet_webhook_deliveries_total", label)).toBe(0);
  other.close();
  c.close();
  await Promise.all([c.closed, other.closed]);
}, 30_000);
