/**
 * The Comet client: one WebSocket to /comet/Comet/Subscribe that stays up. It authenticates,
 * follows one room, answers heartbeat probes, and reconnects on loss. With positions (the
 * default) it keeps where it stands in each stream, recovers what a loss or a room change made it
 * miss, drops duplicates, and raises `gap` when something cannot be had again. With `transport:
 * "sse"` it subscribes over Server-Sent Events instead; `"auto"` falls back to them when a
 * WebSocket cannot be opened and tries WebSocket again later, its positions kept across the
 * switch. Browsers, Bun and Deno: it uses nothing but the WebSocket, fetch, timer and atob
 * globals they share.
 *
 * Here: the public class, its state and events, and what follows the end of a link (a retry after
 * a backoff, a new link at once, or a stop). The links themselves: links.ts (over ws-link.ts and
 * sse-link.ts, with liveness.ts and refresh.ts); where to resume from: resume.ts (over
 * positions.ts); reading a frame: downlink.ts; options and events: options.ts.
 */
import { backoffDelay } from "../protocol/backoff.ts";
import { readDownlink } from "./downlink.ts";
import { Emitter } from "./emitter.ts";
import { Links } from "./links.ts";
import {
  ABNORMAL_CODE,
  type CometClientEvents,
  type CometClientOptions,
  type CometState,
  readOptions,
} from "./options.ts";
import type { PushPosition } from "./positions.ts";
import { Resume } from "./resume.ts";

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class CometClient {
  readonly #token: string | (() => Promise<string>);
  readonly #backoff: { base: number; max: number };
  readonly #resume: Resume;
  readonly #links: Links;
  readonly #events = new Emitter<CometClientEvents>();
  #state: CometState = "closed";
  #rid: string;
  /** Bumped by every dial and every stop, so that late callbacks of an older attempt do nothing. */
  #generation = 0;
  #attempt = 0;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #waiters: Waiter[] = [];

  constructor(options: CometClientOptions) {
    const o = readOptions(options);
    this.#token = o.token;
    this.#rid = o.rid;
    this.#backoff = o.backoff;
    this.#resume = new Resume(o.positions && o.recover);
    this.#links = new Links(o, this.#resume, {
      rid: () => this.#rid,
      isOpen: () => this.#state === "open",
      opened: () => this.#opened(),
      frame: (text) => this.#frame(text),
      lost: (code, reason) => this.#lost(code, reason),
      stop: (code, reason) => this.#stop(code, reason),
      reopen: (reason) => this.#reopen(reason),
      redial: () => void this.#dial(),
    });
  }

  get state(): CometState {
    return this.#state;
  }

  /** What carries the open session: "websocket" or "sse"; undefined while none is open. */
  get transport(): "websocket" | "sse" | undefined {
    if (this.#state !== "open") return undefined;
    return this.#links.sse ? "sse" : "websocket";
  }

  /**
   * Starts connecting (a no-op while already connecting or open). Resolves once a socket is open,
   * after as many retries as that takes; rejects if the client stops first.
   */
  connect(): Promise<void> {
    if (this.#state === "open") return Promise.resolve();
    const opened = new Promise<void>((resolve, reject) => this.#waiters.push({ resolve, reject }));
    // Callers that ignore the promise must not get an unhandled rejection; awaiting it still throws.
    opened.catch(() => {});
    if (this.#state === "closed") {
      this.#attempt = 0;
      this.#setState("connecting");
      void this.#dial();
    }
    return opened;
  }

  /** Enters a room (leaving the last one); "" leaves any room. Remembered for reconnects. */
  join(rid: string): void {
    const back = this.#resume.rejoin(rid, this.#rid);
    this.#rid = rid;
    if (this.#state !== "open") return;
    // An SSE stream's room is fixed by its URL: a new stream, which recovers as a reconnect does.
    if (this.#links.sse) {
      this.#reopen(`joining ${JSON.stringify(rid)} on a new stream`);
      return;
    }
    this.#resume.joined(rid);
    // Back into a room it was in: what the room got meanwhile is replayed, or reported as a gap.
    this.#links.send(back ? { t: "JOIN", join: { rid }, recover: back } : { t: "JOIN", join: { rid } });
  }

  /** Closes the connection and stops retrying. */
  close(): void {
    if (this.#state === "closed") return;
    this.#stop(1000, "closed by the client");
  }

  on<K extends keyof CometClientEvents>(event: K, listener: CometClientEvents[K]): this {
    this.#events.on(event, listener);
    return this;
  }

  off<K extends keyof CometClientEvents>(event: K, listener: CometClientEvents[K]): this {
    this.#events.off(event, listener);
    return this;
  }

  #emit<K extends keyof CometClientEvents>(event: K, ...args: Parameters<CometClientEvents[K]>): void {
    this.#events.emit(event, ...args);
  }

  #setState(next: CometState): void {
    if (this.#state === next) return;
    this.#state = next;
    this.#emit("state", next);
  }

  async #dial(): Promise<void> {
    const generation = ++this.#generation;
    let token: string;
    try {
      token = typeof this.#token === "string" ? this.#token : await this.#token();
      if (typeof token !== "string") throw new TypeError(`expected a string, got ${typeof token}`);
    } catch (err) {
      if (generation === this.#generation) this.#lost(ABNORMAL_CODE, `token function failed: ${message(err)}`);
      return;
    }
    if (generation !== this.#generation) return;
    this.#links.dial(token);
  }

  /** A link opened: the session is live. */
  #opened(): void {
    this.#setState("open");
    for (const w of this.#waiters.splice(0)) w.resolve();
    this.#emit("open");
  }

  #frame(text: string): void {
    readDownlink(text, {
      probe: () => this.#links.send({ t: "HB" }),
      recovered: (report) => this.#recovered(report),
      push: (evt, position) => this.#push(evt, position),
    });
  }

  #push(evt: string, position: PushPosition | undefined): void {
    if (!position) {
      this.#emit("push", evt);
      return;
    }
    const outcome = this.#resume.accept(position);
    if (outcome === "duplicate") return;
    if (outcome !== "new") this.#emit("gap", outcome);
    this.#emit("push", evt, position);
  }

  #recovered(report: Record<string, boolean>): void {
    this.#emit("recovered", report);
    for (const [kind, ok] of Object.entries(report)) {
      if (ok) continue;
      const stream = kind === "r" ? `r:${this.#rid}` : kind;
      this.#resume.forget(stream);
      this.#emit("gap", { stream, reason: "not_recovered" });
    }
  }

  /** A new link at once, no backoff (a switch of transport, a room change on SSE, a token refresh on SSE). */
  #reopen(reason: string): void {
    this.#links.drop();
    this.#links.liveness.closed();
    this.#state = "reconnecting";
    this.#emit("close", 1000, reason);
    // A close listener may have called close().
    if (this.#state !== "reconnecting") return;
    this.#emit("state", "reconnecting");
    void this.#dial();
  }

  /** A connection ended (or never started) and retrying may help. */
  #lost(code: number, reason: string): void {
    const worked = this.#links.liveness.worked();
    this.#links.drop();
    this.#links.liveness.reset();
    if (worked) this.#attempt = 0;
    const delay = backoffDelay(this.#attempt++, this.#backoff);
    const generation = this.#generation;
    this.#retryTimer = setTimeout(() => {
      if (generation === this.#generation && this.#state === "reconnecting") void this.#dial();
    }, delay);
    const wasState = this.#state;
    this.#state = "reconnecting";
    this.#emit("close", code, reason);
    // A close listener may have called close(); then "closed" was already announced.
    if (wasState !== "reconnecting" && this.#state === "reconnecting") this.#emit("state", "reconnecting");
  }

  /** The client stops for good: close() or a final close code. */
  #stop(code: number, reason: string): void {
    this.#generation++;
    clearTimeout(this.#retryTimer);
    this.#links.drop();
    this.#state = "closed";
    const err = Object.assign(new Error(`comet: closed ${code}${reason ? ` (${reason})` : ""}`), { code, reason });
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.#emit("close", code, reason);
    if (this.#state === "closed") this.#emit("state", "closed");
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
