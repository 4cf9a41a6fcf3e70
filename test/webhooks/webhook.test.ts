/** One webhook against a real HTTP receiver: batches, signature, retries, order, bounds. */
import { afterEach, expect, test } from "bun:test";
import { Registry } from "../../src/metrics/registry.ts";
import { silentLogger } from "../../src/log.ts";
import { verifyWebhook } from "../../src/webhooks/signature.ts";
import { Webhook, type WebhookOptions } from "../../src/webhooks/webhook.ts";
import { webhookMetrics } from "../../src/webhooks/hooks.ts";
import { waitFor } from "../bridge/util.ts";
import { Receiver } from "./receiver.ts";

const SECRET = "a-webhook-secret-0123456789";
let receiver: Receiver;
let hook: Webhook | undefined;

afterEach(() => {
  hook?.close();
  receiver?.stop();
});

function start(opts: Partial<WebhookOptions> = {}) {
  receiver = new Receiver();
  const metrics = webhookMetrics(new Registry());
  hook = new Webhook({
    url: receiver.url,
    secret: SECRET,
    timeoutMs: 1000,
    label: "hook",
    metrics,
    log: silentLogger,
    ...opts,
  });
  const count = (c: keyof typeof metrics, labels: Record<string, string> = {}) =>
    (metrics[c] as { get(l: Record<string, string>): number }).get({ webhook: "hook", ...labels });
  return { hook, count };
}

const event = (i: number) => JSON.stringify({ type: "ONLINE", uid: `u${i}`, kind: "activity" });

test("events go in batches of at most 100, in order, within 100 ms of the first, each signed", async () => {
  const { hook, count } = start();
  const first = Date.now();
  for (let i = 0; i < 250; i++) hook.offer(event(i));
  await waitFor(() => receiver.events().length === 250, "250 events");
  expect(receiver.posts.map((p) => (JSON.parse(p.body) as unknown[]).length)).toEqual([100, 100, 50]);
  expect(receiver.events().map((e) => e.uid)).toEqual(Array.from({ length: 250 }, (_, i) => `u${i}`));
  expect(receiver.posts[0]!.at - first).toBeLessThan(300);
  for (const p of receiver.posts) {
    expect(p.contentType).toBe("application/json");
    expect(p.signature).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, p.body, p.signature)).toBe(true);
    expect(verifyWebhook("another-secret-0123456789", p.body, p.signature)).toBe(false);
    expect(verifyWebhook(SECRET, `${p.body} `, p.signature)).toBe(false);
  }
  // Counted once the answer is read, which may be a moment after the receiver recorded the request.
  await waitFor(() => count("delivered") === 250, "250 counted as delivered");
});

test("a signature whose timestamp is too old, or malformed, does not verify", () => {
  const body = "[]";
  const old = Math.floor(Date.now() / 1000) - 3600;
  const mac = (t: number) => new Bun.CryptoHasher("sha256", SECRET).update(`${t}.${body}`).digest("hex");
  expect(verifyWebhook(SECRET, body, `t=${old},v1=${mac(old)}`)).toBe(false);
  const now = Math.floor(Date.now() / 1000);
  expect(verifyWebhook(SECRET, body, `t=${now},v1=${mac(now)}`)).toBe(true);
  for (const bad of [null, "", `v1=${mac(now)}`, `t=${now},v1=xyz`, `t=${now}, v1=${mac(now)}`]) {
    expect(verifyWebhook(SECRET, body, bad)).toBe(false);
  }
});

test("a receiver that fails, then recovers, gets every event once and in order; the retries are counted", async () => {
  const { hook, count } = start({ backoff: { base: 50, max: 200, jitter: "equal" } });
  receiver.answer = 500;
  for (let i = 0; i < 150; i++) hook.offer(event(i));
  await waitFor(() => count("retries") >= 3, "three retries");
  for (let i = 150; i < 160; i++) hook.offer(event(i));
  receiver.answer = 200;
  await waitFor(() => receiver.events().length === 160, "160 events");
  expect(receiver.events().map((e) => e.uid)).toEqual(Array.from({ length: 160 }, (_, i) => `u${i}`));
  expect(count("dropped", { reason: "retries_exhausted" })).toBe(0);
  expect(count("requests", { outcome: "failed" })).toBeGreaterThanOrEqual(3);
});

test("a receiver that never answers: the queue stays bounded, the overflow and the expired batch are dropped and counted", async () => {
  const { hook, count } = start({
    timeoutMs: 100,
    retryForMs: 600,
    capacity: 50,
    backoff: { base: 50, max: 100, jitter: "equal" },
  });
  receiver.answer = "hang";
  for (let i = 0; i < 80; i++) hook.offer(event(i));
  expect(hook.size).toBe(50);
  expect(count("dropped", { reason: "queue_full" })).toBe(30);
  // The batch in flight counts: what waits is still at most 50.
  await waitFor(() => count("requests", { outcome: "failed" }) >= 1, "the first attempt timed out", 3000);
  for (let i = 80; i < 100; i++) hook.offer(event(i));
  expect(hook.size).toBe(50);
  expect(count("dropped", { reason: "queue_full" })).toBe(50);
  await waitFor(() => count("dropped", { reason: "retries_exhausted" }) === 50, "the batch dropped", 3000);
  expect(hook.size).toBe(0);
  expect(count("delivered")).toBe(0);
  expect(count("requests", { outcome: "failed" })).toBeGreaterThanOrEqual(2);
});

test("close drops what waits, counted as shutdown, and sends nothing more", async () => {
  const { hook, count } = start();
  for (let i = 0; i < 5; i++) hook.offer(event(i));
  hook.close();
  await Bun.sleep(200);
  expect(receiver.posts).toEqual([]);
  expect(count("dropped", { reason: "shutdown" })).toBe(5);
});
