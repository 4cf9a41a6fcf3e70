/**
 * The configured webhooks (`webhooks:`), fed with this instance's activity and the presence
 * transitions it emits. Each event is encoded once, and only when some webhook wants its name;
 * HEARD, which fires on every uplink, costs one Set lookup when nobody does. A reload keeps the
 * webhooks whose settings did not change, queues and all.
 */
import type { WebhookConfig } from "../config/schema.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Activity } from "../hub/activity.ts";
import type { Logger } from "../log.ts";
import type { PresenceTransition } from "../presence/view.ts";
import { Webhook, type WebhookMetrics, webhookLabel } from "./webhook.ts";

/** A transition's event name, one constant string per type: none is built per transition (one on every connect). */
const PRESENCE_NAMES = { ONLINE: "presence.ONLINE", OFFLINE: "presence.OFFLINE" } as const;

interface Entry {
  key: string;
  events: ReadonlySet<string>;
  hook: Webhook;
}

export function webhookMetrics(registry: Registry): WebhookMetrics {
  return {
    requests: registry.counter("comet_webhook_requests_total", "Webhook requests, by webhook and outcome (ok, failed)"),
    delivered: registry.counter("comet_webhook_deliveries_total", "Events acknowledged by a webhook (2xx), by webhook"),
    retries: registry.counter("comet_webhook_retries_total", "Webhook requests retried after a failure, by webhook"),
    dropped: registry.counter(
      "comet_webhook_dropped_total",
      "Webhook events dropped, by webhook and reason (queue_full, retries_exhausted, shutdown, removed)",
    ),
    latency: registry.histogram(
      "comet_webhook_request_duration_seconds",
      "Webhook request latency, by webhook and outcome",
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
  };
}

export class Webhooks {
  private entries: Entry[] = [];
  /** Every name some webhook wants. */
  private wanted = new Set<string>();
  private readonly metrics: WebhookMetrics;

  constructor(
    configs: readonly WebhookConfig[],
    private readonly deps: { registry: Registry; log: Logger; server: string },
  ) {
    this.metrics = webhookMetrics(deps.registry);
    deps.registry.gaugeSeries("comet_webhook_queue_length", "Webhook events waiting, by webhook", () =>
      this.entries.map((e) => [{ webhook: webhookLabel(e.hook.url) }, e.hook.size]),
    );
    this.reload(configs);
  }

  get count(): number {
    return this.entries.length;
  }

  /** Whether some webhook wants this name (HEARD costs an allocation per uplink when one does). */
  wants(name: string): boolean {
    return this.wanted.has(name);
  }

  /** Resolves when every queue is empty, or after ms: a graceful stop gives the last events a chance. */
  async flush(ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.entries.some((e) => e.hook.size > 0) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  }

  activity(a: Activity): void {
    if (!this.wanted.has(a.type)) return;
    const { type, uid, rid, time } = a;
    this.offer(type, JSON.stringify({ type, uid, rid, time, server: this.deps.server, kind: "activity" }));
  }

  presence(t: PresenceTransition): void {
    const name = PRESENCE_NAMES[t.type];
    if (!this.wanted.has(name)) return;
    const { type, uid, rid, server, time, since } = t;
    this.offer(name, JSON.stringify({ type, uid, rid, server, time, since, kind: "presence" }));
  }

  private offer(name: string, json: string): void {
    for (const e of this.entries) if (e.events.has(name)) e.hook.offer(json);
  }

  /** Applies a new list: unchanged webhooks keep their queues; removed ones drop theirs, counted as removed. */
  reload(configs: readonly WebhookConfig[]): void {
    const old = new Map(this.entries.map((e) => [e.key, e]));
    const next: Entry[] = [];
    for (const c of configs) {
      const key = JSON.stringify([c.url, [...c.events].sort(), c.secret, c.timeout]);
      const kept = old.get(key);
      if (kept) {
        old.delete(key);
        next.push(kept);
        continue;
      }
      const hook = new Webhook({
        url: c.url,
        secret: c.secret,
        timeoutMs: c.timeout,
        label: webhookLabel(c.url),
        metrics: this.metrics,
        log: this.deps.log,
      });
      next.push({ key, events: new Set(c.events), hook });
    }
    for (const e of old.values()) e.hook.close("removed");
    this.entries = next;
    this.wanted = new Set(next.flatMap((e) => [...e.events]));
  }

  close(): void {
    for (const e of this.entries) e.hook.close();
    this.entries = [];
    this.wanted = new Set();
  }
}
