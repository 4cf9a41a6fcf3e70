/**
 * The Comet client: one WebSocket to /comet/Comet/Subscribe that stays up. It authenticates,
 * follows one room, answers heartbeat probes, and reconnects on loss. With positions (the
 * default) it keeps where it stands in each stream, recovers what a loss or a room change made it
 * miss, drops duplicates, and raises `gap` when something cannot be had again. With `transport:
 * "sse"` it subscribes over Server-Sent Events instead; `"auto"` falls back to them when a
 * WebSocket cannot be opened and tries WebSocket again later, its positions kept across the
 * switch. Browsers, Bun and Deno: it uses nothing but the WebSocket, fetch, timer and atob
 * globals they share.
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
import type { Recover } from "../protocol/frames.ts";
import { encodeEventId, parseEventId } from "../sse/event-id.ts";
import { openSse, sseUrl } from "./sse-link.ts";

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
  readonly #transport: "websocket" | "sse" | "auto";
  readonly #upgradeRetry: number;
  readonly #book = new PositionBook();
  /** The open SSE stream's abort, while one is the link. */
  #sse: (() => void) | undefined;
  /** auto: a WebSocket could not be opened; until then, dial SSE. */
  #sseUntil = 0;
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined;
  /** The SSE stream's last event id, and the room of that stream; cleared when a WebSocket opens. */
  #lastEventId: string | undefined;
  #lastEventRid = "";
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
    this.#transport = o.transport;
    this.#upgradeRetry = o.upgradeRetry;
  }

  get state(): CometState {
    return this.#state;
  }

  /** What carries the open session: "websocket" or "sse"; undefined while none is open. */
  get transport(): "websocket" | "sse" | undefined {
    if (this.#state !== "open") return undefined;
    return this.#sse ? "sse" : "websocket";
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
    // An SSE stream's room is fixed by its URL: a new stream, which recovers as a reconnect does.
    if (this.#sse) {
      this.#reopen(`joining ${JSON.stringify(rid)} on a new stream`);
      return;
    }
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
    if (this.#transport === "sse" || (this.#transport === "auto" && Date.now() < this.#sseUntil)) {
      this.#dialSse(token);
      return;
    }
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
      if (this.#recover && this.#wasOpen) auth.recover = this.#resumeFrom(this.#rid);
      // From here on the positions are the book's alone.
      this.#lastEventId = undefined;
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
      else this.#failed(e.code || ABNORMAL_CODE, e.reason);
    };
  }

  /**
   * A link failed. With transport "auto", a WebSocket that never opened (the upgrade refused, a
   * proxy that strips Upgrade, no answer) is retried at once over SSE, and WebSocket again after
   * upgradeRetry; anything else is a loss, retried after a backoff.
   */
  #failed(code: number, reason: string): void {
    if (this.#transport !== "auto" || this.#sse || this.#openedAt > 0) {
      this.#lost(code, reason);
      return;
    }
    this.#drop();
    this.#sseUntil = Date.now() + this.#upgradeRetry;
    void this.#dial();
  }

  #dialSse(token: string): void {
    const rid = this.#rid;
    const resume = this.#recover && this.#wasOpen ? encodeEventId(this.#resumeFrom(rid)) : undefined;
    this.#openedAt = 0;
    this.#gotFrame = false;
    this.#lastFrame = Date.now();
    this.#startWatchdog();
    const abort: () => void = openSse(sseUrl(this.#url, rid), token, resume, {
      open: () => {
        if (this.#sse !== abort) return;
        this.#openedAt = Date.now();
        this.#lastFrame = this.#openedAt;
        this.#wasOpen = true;
        this.#liveRid = rid;
        this.#lastEventId = undefined;
        this.#scheduleRefresh(token);
        if (this.#transport === "auto") {
          // Try WebSocket again later: a new link, which recovers what the switch made it miss.
          this.#upgradeTimer = setTimeout(
            () => {
              if (this.#sse === abort && this.#state === "open") this.#reopen("trying WebSocket again");
            },
            Math.max(0, this.#sseUntil - Date.now()),
          );
        }
        this.#setState("open");
        for (const w of this.#waiters.splice(0)) w.resolve();
        this.#emit("open");
      },
      alive: () => {
        if (this.#sse !== abort) return;
        this.#lastFrame = Date.now();
        this.#gotFrame = true;
      },
      id: (id) => {
        if (this.#sse !== abort) return;
        this.#lastEventId = id;
        this.#lastEventRid = rid;
      },
      event: (type, data) => {
        if (this.#sse !== abort) return;
        if (type === "gap") this.#frame(data);
        else if (type === "message") this.#frame(data);
      },
      refused: (status, detail) => {
        if (this.#sse !== abort) return;
        this.#unproven();
        // As the WebSocket's close codes: a refused token or room is final, the rest is retried.
        if (status === 401) this.#stop(4401, detail || "unauthorized");
        else if (status === 403) this.#stop(4403, detail || "forbidden");
        else this.#lost(ABNORMAL_CODE, `HTTP ${status}${detail ? `: ${detail}` : ""}`);
      },
      ended: (reason) => {
        if (this.#sse !== abort) return;
        this.#unproven();
        this.#lost(ABNORMAL_CODE, reason);
      },
    });
    this.#sse = abort;
  }

  /**
   * Where a new link into rid resumes: the last SSE stream's id when there is one (it holds every
   * stream's position, also of one from which nothing came yet; its room's only when it was this
   * room), else the positions of the PUSH frames received (a stream with none is asked from
   * nowhere: a possible loss is reported as a gap rather than missed in silence).
   */
  #resumeFrom(rid: string): Recover {
    const id = this.#lastEventId === undefined ? undefined : parseEventId(this.#lastEventId);
    if (!id) return this.#book.reconnect(rid, rid === this.#liveRid);
    if (this.#lastEventRid === rid) return id;
    // Into another room: its position only if the client was in it before, as a JOIN back does.
    return { u: id.u, w: id.w, ...this.#book.rejoin(rid) };
  }

  /**
   * auto: an SSE stream that never opened either does not show WebSocket to be blocked (the
   * server may be down, or restarting): the next attempt tries WebSocket first again, so a
   * restart does not leave the client on SSE for upgradeRetry.
   */
  #unproven(): void {
    if (this.#transport === "auto" && this.#openedAt === 0) this.#sseUntil = 0;
  }

  /** A new link at once, no backoff (a switch of transport, a room change on SSE, a token refresh on SSE). */
  #reopen(reason: string): void {
    this.#drop();
    this.#openedAt = 0;
    this.#state = "reconnecting";
    this.#emit("close", 1000, reason);
    // A close listener may have called close().
    if (this.#state !== "reconnecting") return;
    this.#emit("state", "reconnecting");
    void this.#dial();
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
    const sse = this.#sse;
    this.#sse = undefined;
    sse?.();
    clearInterval(this.#watchdog);
    clearTimeout(this.#refreshTimer);
    clearTimeout(this.#upgradeTimer);
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
        const what =
          this.#openedAt > 0
            ? "no frame from the server"
            : this.#sse
              ? "no answer to the stream's request"
              : "no answer to the WebSocket handshake";
        this.#failed(SILENT_LINK_CODE, `${what} for ${limit} ms (3 × heartbeat interval)`);
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
    const sse = this.#sse;
    const fetchToken = this.#token as () => Promise<string>;
    if (delay > MAX_TIMER_MS) {
      this.#refreshTimer = setTimeout(() => this.#refreshAt(delay - MAX_TIMER_MS, exp), MAX_TIMER_MS);
      return;
    }
    this.#refreshTimer = setTimeout(async () => {
      // A stream cannot re-AUTH: a new one, with a fresh token, recovers where this one stands.
      if (sse) {
        if (this.#sse === sse && this.#state === "open") this.#reopen("refreshing the token");
        return;
      }
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
