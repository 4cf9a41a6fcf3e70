/**
 * The Comet client: one WebSocket to /comet/Comet/Subscribe that stays up. It authenticates,
 * follows one room, answers heartbeat probes, and reconnects on loss. With positions (the
 * default) it keeps where it stands in each stream, recovers what a loss or a room change made it
 * miss, drops duplicates, and raises `gap` when something cannot be had again. Browsers, Bun and
 * Deno: it uses nothing but the WebSocket, timer and atob globals they share.
 */
import { backoffDelay } from "../protocol/backoff.ts";
import { Emitter } from "./emitter.ts";
import { jwtExpiryMs } from "./jwt.ts";
import {
  ABNORMAL_CODE,
  type CometClientEvents,
  type CometClientOptions,
  type CometState,
  FINAL_CLOSE_CODES,
  readOptions,
  SILENT_LINK_CODE,
} from "./options.ts";
import { PositionBook, type PushPosition } from "./positions.ts";

// A connection that delivered a frame, or stayed up this long, worked: the next loss starts the backoff over.
const PROVEN_AFTER_MS = 10_000;
// setTimeout fires at once for delays beyond a signed 32-bit millisecond count.
const MAX_TIMER_MS = 2 ** 31 - 1;
const OPEN = 1;

type Waiter = { resolve: () => void; reject: (err: Error) => void };

export class CometClient {
  readonly #url: string;
  readonly #token: string | (() => Promise<string>);
  readonly #backoff: { base: number; max: number };
  readonly #heartbeat: number;
  readonly #positions: boolean;
  readonly #recover: boolean;
  readonly #book = new PositionBook();
  /** A connection was open before: the next AUTH recovers what was missed since. */
  #wasOpen = false;
  /** The room the last open connection was in (a loss leaves it; join() while away changes #rid only). */
  #liveRid = "";
  readonly #events = new Emitter<CometClientEvents>();
  #state: CometState = "closed";
  #rid: string;
  #ws: WebSocket | undefined;
  /** Bumped by every dial and every stop, so that late callbacks of an older attempt do nothing. */
  #generation = 0;
  #attempt = 0;
  #openedAt = 0;
  #lastFrame = 0;
  #gotFrame = false;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #refreshTimer: ReturnType<typeof setTimeout> | undefined;
  #watchdog: ReturnType<typeof setInterval> | undefined;
  #waiters: Waiter[] = [];

  constructor(options: CometClientOptions) {
    const o = readOptions(options);
    this.#url = o.url;
    this.#token = o.token;
    this.#rid = o.rid;
    this.#backoff = o.backoff;
    this.#heartbeat = o.heartbeat;
    this.#positions = o.positions;
    this.#recover = o.positions && o.recover;
  }

  get state(): CometState {
    return this.#state;
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
    const back = rid !== this.#rid && this.#recover ? this.#book.rejoin(rid) : undefined;
    this.#rid = rid;
    if (this.#state !== "open") return;
    this.#liveRid = rid;
    // Back into a room it was in: what the room got meanwhile is replayed, or reported as a gap.
    this.#send(back ? { t: "JOIN", join: { rid }, recover: back } : { t: "JOIN", join: { rid } });
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
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#url);
    } catch (err) {
      this.#lost(ABNORMAL_CODE, `cannot open ${this.#url}: ${message(err)}`);
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    this.#openedAt = 0;
    this.#gotFrame = false;
    // The watchdog covers the handshake too: a peer that accepts TCP and never answers is as dead
    // as one that stops talking later.
    this.#lastFrame = Date.now();
    this.#startWatchdog();
    ws.onopen = () => {
      if (this.#ws !== ws) return;
      this.#openedAt = Date.now();
      this.#lastFrame = this.#openedAt;
      const auth: Record<string, unknown> = { t: "AUTH", auth: { token } };
      if (this.#rid !== "") auth.join = { rid: this.#rid };
      if (this.#positions) auth.positions = true;
      if (this.#recover && this.#wasOpen) auth.recover = this.#book.reconnect(this.#rid, this.#rid === this.#liveRid);
      this.#wasOpen = true;
      this.#liveRid = this.#rid;
      this.#send(auth);
      this.#scheduleRefresh(token);
      this.#setState("open");
      for (const w of this.#waiters.splice(0)) w.resolve();
      this.#emit("open");
    };
    ws.onmessage = (e: MessageEvent) => {
      if (this.#ws !== ws) return;
      this.#lastFrame = Date.now();
      this.#gotFrame = true;
      this.#frame(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer));
    };
    ws.onclose = (e: CloseEvent) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      if (FINAL_CLOSE_CODES.has(e.code)) this.#stop(e.code, e.reason);
      else this.#lost(e.code || ABNORMAL_CODE, e.reason);
    };
  }

  #frame(text: string): void {
    let frame: { t?: unknown; hb?: { recovered?: unknown }; push?: Partial<PushPosition> & { evt?: unknown } };
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    if (typeof frame !== "object" || frame === null) return;
    // Downlink writes names; numbers are read too, as the uplink does.
    if (frame.t === "HB" || frame.t === 0) {
      const recovered = frame.hb?.recovered;
      // The report of a recover is not a probe: nothing to answer.
      if (typeof recovered === "object" && recovered !== null) this.#recovered(recovered as Record<string, boolean>);
      else this.#send({ t: "HB" });
    } else if ((frame.t === "PUSH" || frame.t === 3) && typeof frame.push?.evt === "string") {
      const { evt, stream, seq, epoch } = frame.push;
      if (typeof stream !== "string" || typeof seq !== "number" || typeof epoch !== "string") {
        this.#emit("push", evt);
        return;
      }
      const position: PushPosition = { stream, seq, epoch };
      const outcome = this.#book.accept(position);
      if (outcome === "duplicate") return;
      if (outcome !== "new") this.#emit("gap", outcome);
      this.#emit("push", evt, position);
    }
  }

  #recovered(report: Record<string, boolean>): void {
    this.#emit("recovered", report);
    for (const [kind, ok] of Object.entries(report)) {
      if (ok) continue;
      const stream = kind === "r" ? `r:${this.#rid}` : kind;
      this.#book.forget(stream);
      this.#emit("gap", { stream, reason: "not_recovered" });
    }
  }

  #send(frame: unknown): void {
    if (this.#ws?.readyState === OPEN) this.#ws.send(JSON.stringify(frame));
  }

  /** Forgets the current socket without waiting for its close: a dead link may never report one. */
  #drop(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    clearInterval(this.#watchdog);
    clearTimeout(this.#refreshTimer);
    if (!ws) return;
    ws.onopen = ws.onmessage = ws.onclose = null;
    try {
      ws.close(1000);
    } catch {
      // Already closing or closed.
    }
  }

  /** A connection ended (or never started) and retrying may help. */
  #lost(code: number, reason: string): void {
    const worked = this.#gotFrame || (this.#openedAt > 0 && Date.now() - this.#openedAt >= PROVEN_AFTER_MS);
    this.#drop();
    this.#openedAt = 0;
    this.#gotFrame = false;
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
    this.#drop();
    this.#state = "closed";
    const err = Object.assign(new Error(`comet: closed ${code}${reason ? ` (${reason})` : ""}`), { code, reason });
    for (const w of this.#waiters.splice(0)) w.reject(err);
    this.#emit("close", code, reason);
    if (this.#state === "closed") this.#emit("state", "closed");
  }

  #startWatchdog(): void {
    clearInterval(this.#watchdog);
    const limit = 3 * this.#heartbeat;
    // A quarter interval between checks: the link is declared dead at most a quarter interval late.
    this.#watchdog = setInterval(
      () => {
        if (Date.now() - this.#lastFrame <= limit) return;
        const what = this.#openedAt > 0 ? "no frame from the server" : "no answer to the WebSocket handshake";
        this.#lost(SILENT_LINK_CODE, `${what} for ${limit} ms (3 × heartbeat interval)`);
      },
      Math.max(10, Math.floor(this.#heartbeat / 4)),
    );
  }

  /** With a token function, fetch a fresh token and re-AUTH before the current one expires. */
  #scheduleRefresh(token: string): void {
    clearTimeout(this.#refreshTimer);
    if (typeof this.#token !== "function") return;
    const exp = jwtExpiryMs(token);
    if (exp === undefined) return;
    const remaining = exp - Date.now();
    // When three quarters of what is left have passed, and at most a minute before expiry.
    this.#refreshAt(Math.max(0, remaining - Math.min(60_000, remaining / 4)), exp);
  }

  #refreshAt(delay: number, exp: number): void {
    const ws = this.#ws;
    const fetchToken = this.#token as () => Promise<string>;
    if (delay > MAX_TIMER_MS) {
      this.#refreshTimer = setTimeout(() => this.#refreshAt(delay - MAX_TIMER_MS, exp), MAX_TIMER_MS);
      return;
    }
    this.#refreshTimer = setTimeout(async () => {
      let fresh: string;
      try {
        fresh = await fetchToken();
        if (typeof fresh !== "string") throw new TypeError(`expected a string, got ${typeof fresh}`);
      } catch {
        // Try again halfway to expiry; if it never works, the server ends the session with 4401.
        const left = exp - Date.now();
        if (this.#ws === ws && left > 1000) this.#refreshAt(left / 2, exp);
        return;
      }
      if (this.#ws !== ws || this.#state !== "open") return;
      // Without a join the server keeps the room.
      this.#send({ t: "AUTH", auth: { token: fresh } });
      this.#scheduleRefresh(fresh);
    }, delay);
  }
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));
