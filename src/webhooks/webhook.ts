/**
 * One webhook: its own bounded queue, batches of at most 100 events sent within 100 ms of the
 * first, one request at a time (so order is kept), retried with backoff for up to a minute, then
 * dropped and counted. Nothing here ever waits on the caller's side: `offer` queues and returns,
 * so a backend that is slow or down never holds a socket, the hub or the bridge.
 */
import type { Counter, Histogram } from "../metrics/registry.ts";
import type { Logger } from "../log.ts";
import { type BackoffOptions, backoffDelay } from "../protocol/backoff.ts";
import { BoundedQueue } from "../util/bounded-queue.ts";
import { SIGNATURE_HEADER, signWebhook } from "./signature.ts";

export interface WebhookMetrics {
  /** Requests, by webhook and outcome (ok, failed). */
  requests: Counter;
  /** Events acknowledged by the backend, by webhook. */
  delivered: Counter;
  retries: Counter;
  /** Events dropped, by webhook and reason (queue_full, retries_exhausted, shutdown, removed). */
  dropped: Counter;
  /** Request latency, by webhook and outcome. */
  latency: Histogram;
}

export interface WebhookOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  /** The `webhook` label of its metrics: the URL without credentials or query. */
  label: string;
  metrics: WebhookMetrics;
  log: Logger;
  capacity?: number;
  batchMax?: number;
  batchWaitMs?: number;
  /** How long one batch is retried before it is dropped. */
  retryForMs?: number;
  backoff?: BackoffOptions;
}

/** 200 ms doubling to 5 s: a backend back after a blip is reached again within seconds. */
const RETRY: BackoffOptions = { base: 200, max: 5000, jitter: "equal" };
const JSON_CONTENT = "application/json";

/** A URL as a metrics label: no user, password, query or fragment (they may carry secrets). */
export function webhookLabel(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export class Webhook {
  private readonly queue: BoundedQueue<string>;
  private readonly batchMax: number;
  private readonly batchWaitMs: number;
  private readonly retryForMs: number;
  private readonly backoff: BackoffOptions;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private sending = false;
  private closed = false;
  private abort: AbortController | undefined;
  /** Events in the batch being sent (for the count of what a shutdown drops). */
  private inFlight = 0;

  readonly url: string;

  constructor(private readonly options: WebhookOptions) {
    this.url = options.url;
    this.queue = new BoundedQueue(options.capacity ?? 10_000);
    this.batchMax = options.batchMax ?? 100;
    this.batchWaitMs = options.batchWaitMs ?? 100;
    this.retryForMs = options.retryForMs ?? 60_000;
    this.backoff = options.backoff ?? RETRY;
  }

  /** Events waiting, the batch in flight included. */
  get size(): number {
    return this.queue.size + this.inFlight;
  }

  /** Queues one event (its JSON); the oldest waiting goes when `capacity` events wait, the batch in flight included. */
  offer(json: string): void {
    if (this.closed) return;
    if (this.queue.size + this.inFlight >= this.queue.capacity) {
      this.options.metrics.dropped.inc({ webhook: this.options.label, reason: "queue_full" });
      // Everything that waits is in flight: the newest goes, as the batch cannot be cut.
      if (this.queue.size === 0) return;
      this.queue.shift();
    }
    this.queue.push(json);
    if (!this.sending && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.pump();
      }, this.batchWaitMs);
    }
  }

  /** Stops sending; what waits is dropped and counted under reason. */
  close(reason = "shutdown"): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.abort?.abort();
    const left = this.queue.clear() + this.inFlight;
    if (left > 0) this.options.metrics.dropped.inc({ webhook: this.options.label, reason }, left);
  }

  /** Sends batches until the queue is empty: one request at a time, each batch retried until it goes or expires. */
  private async pump(): Promise<void> {
    if (this.sending) return;
    this.sending = true;
    try {
      while (!this.closed && this.queue.size > 0) {
        const batch: string[] = [];
        while (batch.length < this.batchMax && this.queue.size > 0) batch.push(this.queue.shift() as string);
        this.inFlight = batch.length;
        await this.deliver(`[${batch.join(",")}]`, batch.length);
        this.inFlight = 0;
      }
    } finally {
      this.sending = false;
    }
  }

  private async deliver(body: string, events: number): Promise<void> {
    const { label, metrics, log } = this.options;
    const started = Date.now();
    for (let attempt = 0; !this.closed; attempt++) {
      const error = await this.post(body);
      if (error === undefined) {
        metrics.delivered.inc({ webhook: label }, events);
        return;
      }
      const delay = backoffDelay(attempt, this.backoff);
      if (Date.now() + delay - started > this.retryForMs) {
        metrics.dropped.inc({ webhook: label, reason: "retries_exhausted" }, events);
        log.warn("webhook: batch dropped after retrying", { webhook: label, events, error });
        return;
      }
      if (attempt === 0) log.warn("webhook: delivery failed; retrying", { webhook: label, error });
      metrics.retries.inc({ webhook: label });
      await new Promise<void>((resolve) => {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          resolve();
        }, delay);
        // close() clears the timer: the loop must still end.
        this.abort = new AbortController();
        this.abort.signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  }

  /** One request; undefined when acknowledged (2xx), else what went wrong. */
  private async post(body: string): Promise<string | undefined> {
    const { url, secret, timeoutMs, label, metrics } = this.options;
    this.abort = new AbortController();
    const signal = AbortSignal.any([this.abort.signal, AbortSignal.timeout(timeoutMs)]);
    const started = performance.now();
    let outcome = "failed";
    try {
      const res = await fetch(url, {
        method: "POST",
        headers: {
          "content-type": JSON_CONTENT,
          [SIGNATURE_HEADER]: signWebhook(secret, body, Math.floor(Date.now() / 1000)),
        },
        body,
        signal,
        redirect: "manual",
      });
      // The answer's body is not read: a backend's page must not fill this process.
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) {
        outcome = "ok";
        return undefined;
      }
      return `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error;
      return e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : e.message;
    } finally {
      metrics.requests.inc({ webhook: label, outcome });
      metrics.latency.observe({ webhook: label, outcome }, (performance.now() - started) / 1000);
    }
  }
}
