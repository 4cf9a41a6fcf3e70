/**
 * The client's links: which transport to dial (with "auto", SSE while a WebSocket cannot be
 * opened, WebSocket again after upgradeRetry), the AUTH a WebSocket opens with, what each link's
 * events mean to the client (a frame, a loss, a final close), its watchdog and its token refresh.
 * One link at a time; the client (client.ts) decides what follows its end.
 */
import { encodeEventId } from "../protocol/event-id.ts";
import { readClose } from "./downlink.ts";
import { Liveness } from "./liveness.ts";
import { ABNORMAL_CODE, type ClientSettings, FINAL_CLOSE_CODES, SILENT_LINK_CODE } from "./options.ts";
import { type RefreshTarget, TokenRefresh } from "./refresh.ts";
import type { Resume } from "./resume.ts";
import { openSse, sseUrl } from "./sse-link.ts";
import { openWebSocket, type WsLink } from "./ws-link.ts";

/** What the links need of the client, and tell it. */
export interface LinkHost {
  /** The room to be in now. */
  rid(): string;
  /** The client's state is open. */
  isOpen(): boolean;
  /** The link opened: the session is live. */
  opened(): void;
  /** A downlink frame's text (an SSE event's data). */
  frame(text: string): void;
  /** The link ended and retrying may help: after a backoff. */
  lost(code: number, reason: string): void;
  /** The link ended and retrying cannot help: the client stops. */
  stop(code: number, reason: string): void;
  /** A new link at once, no backoff. */
  reopen(reason: string): void;
  /** Dial again at once (auto: a WebSocket could not be opened, SSE now). */
  redial(): void;
}

type LinkSettings = Pick<ClientSettings, "url" | "token" | "heartbeat" | "positions" | "transport" | "upgradeRetry">;

export class Links {
  readonly liveness: Liveness;
  readonly #url: string;
  readonly #positions: boolean;
  readonly #transport: "websocket" | "sse" | "auto";
  readonly #upgradeRetry: number;
  readonly #resume: Resume;
  readonly #host: LinkHost;
  readonly #refresh: TokenRefresh;
  #ws: WsLink | undefined;
  /** The open SSE stream's abort, while one is the link. */
  #sse: (() => void) | undefined;
  /** auto: a WebSocket could not be opened; until then, dial SSE. */
  #sseUntil = 0;
  #upgradeTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(o: LinkSettings, resume: Resume, host: LinkHost) {
    this.#url = o.url;
    this.#positions = o.positions;
    this.#transport = o.transport;
    this.#upgradeRetry = o.upgradeRetry;
    this.liveness = new Liveness(o.heartbeat);
    this.#refresh = new TokenRefresh(o.token);
    this.#resume = resume;
    this.#host = host;
  }

  /** The link is an SSE stream. */
  get sse(): boolean {
    return this.#sse !== undefined;
  }

  /** Dials a new link with token, over the transport the settings and the last failures call for. */
  dial(token: string): void {
    if (this.#transport === "sse" || (this.#transport === "auto" && Date.now() < this.#sseUntil)) {
      this.#dialSse(token);
      return;
    }
    this.#dialWebSocket(token);
  }

  /** Sends a frame on the WebSocket when one is open (an SSE stream has no uplink). */
  send(frame: unknown): void {
    this.#ws?.send(frame);
  }

  /** Forgets the current link without waiting for its close: a dead link may never report one. */
  drop(): void {
    const ws = this.#ws;
    this.#ws = undefined;
    const sse = this.#sse;
    this.#sse = undefined;
    sse?.();
    this.liveness.stop();
    this.#refresh.cancel();
    clearTimeout(this.#upgradeTimer);
    ws?.drop();
  }

  #dialWebSocket(token: string): void {
    let ws: WsLink;
    try {
      ws = openWebSocket(this.#url, {
        open: () => {
          if (this.#ws !== ws) return;
          this.liveness.open();
          const rid = this.#host.rid();
          const auth: Record<string, unknown> = { t: "AUTH", auth: { token } };
          if (rid !== "") auth.join = { rid };
          if (this.#positions) auth.positions = true;
          const recover = this.#resume.reconnect(rid);
          if (recover) auth.recover = recover;
          this.#resume.opened(rid);
          this.send(auth);
          this.#refresh.schedule(
            token,
            this.#refreshTarget(false, () => this.#ws === ws),
          );
          this.#host.opened();
        },
        frame: (text) => {
          if (this.#ws !== ws) return;
          this.liveness.heard();
          this.#host.frame(text);
        },
        closed: (code, reason) => {
          if (this.#ws !== ws) return;
          this.#ws = undefined;
          this.#closed(code, reason);
        },
      });
    } catch (err) {
      this.#host.lost(ABNORMAL_CODE, `cannot open ${this.#url}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    this.#ws = ws;
    this.liveness.dialing((limit) => this.#silent(limit));
  }

  #dialSse(token: string): void {
    const rid = this.#host.rid();
    const from = this.#resume.reconnect(rid);
    this.liveness.dialing((limit) => this.#silent(limit));
    const abort: () => void = openSse(sseUrl(this.#url, rid), token, from && encodeEventId(from), {
      open: () => {
        if (this.#sse !== abort) return;
        this.liveness.open();
        this.#resume.opened(rid);
        this.#refresh.schedule(
          token,
          this.#refreshTarget(true, () => this.#sse === abort),
        );
        if (this.#transport === "auto") {
          // Try WebSocket again later: a new link, which recovers what the switch made it miss.
          this.#upgradeTimer = setTimeout(
            () => {
              if (this.#sse === abort && this.#host.isOpen()) this.#host.reopen("trying WebSocket again");
            },
            Math.max(0, this.#sseUntil - Date.now()),
          );
        }
        this.#host.opened();
      },
      alive: () => {
        if (this.#sse === abort) this.liveness.heard();
      },
      id: (id) => {
        if (this.#sse === abort) this.#resume.eventId(id, rid);
      },
      event: (type, data) => {
        if (this.#sse !== abort) return;
        if (type === "gap") this.#host.frame(data);
        else if (type === "message") this.#host.frame(data);
        else if (type === "close") this.#closeEvent(data);
      },
      refused: (status, detail) => {
        if (this.#sse !== abort) return;
        this.#unproven();
        // As the WebSocket's close codes: a refused token or room is final, the rest is retried.
        if (status === 401) this.#host.stop(4401, detail || "unauthorized");
        else if (status === 403) this.#host.stop(4403, detail || "forbidden");
        else this.#host.lost(ABNORMAL_CODE, `HTTP ${status}${detail ? `: ${detail}` : ""}`);
      },
      ended: (reason) => {
        if (this.#sse !== abort) return;
        this.#unproven();
        this.#host.lost(ABNORMAL_CODE, reason);
      },
    });
    this.#sse = abort;
  }

  /** The link closed with code (0: none given): a final code stops the client, any other is a failure. */
  #closed(code: number, reason: string): void {
    if (FINAL_CLOSE_CODES.has(code)) this.#host.stop(code, reason);
    else this.#failed(code || ABNORMAL_CODE, reason);
  }

  /**
   * `event: close`: the code and reason the server ends the stream with (4410: an operator's
   * Disconnect), as a WebSocket's close. Data the client cannot read is ignored: the end of the
   * stream that follows is then a loss, as without the event.
   */
  #closeEvent(data: string): void {
    const close = readClose(data);
    if (close) this.#closed(close.code, close.reason);
  }

  /**
   * A link failed. With transport "auto", a WebSocket that never opened (the upgrade refused, a
   * proxy that strips Upgrade, no answer) is retried at once over SSE, and WebSocket again after
   * upgradeRetry; anything else is a loss, retried after a backoff.
   */
  #failed(code: number, reason: string): void {
    if (this.#transport !== "auto" || this.#sse || this.liveness.opened) {
      this.#host.lost(code, reason);
      return;
    }
    this.drop();
    this.#sseUntil = Date.now() + this.#upgradeRetry;
    this.#host.redial();
  }

  /** The watchdog's verdict: nothing came for limit ms. */
  #silent(limit: number): void {
    const what = this.liveness.opened
      ? "no frame from the server"
      : this.#sse
        ? "no answer to the stream's request"
        : "no answer to the WebSocket handshake";
    this.#failed(SILENT_LINK_CODE, `${what} for ${limit} ms (3 × heartbeat interval)`);
  }

  /**
   * auto: an SSE stream that never opened either does not show WebSocket to be blocked (the
   * server may be down, or restarting): the next attempt tries WebSocket first again, so a
   * restart does not leave the client on SSE for upgradeRetry.
   */
  #unproven(): void {
    if (this.#transport === "auto" && !this.liveness.opened) this.#sseUntil = 0;
  }

  /** What a token refresh acts on: the link that just opened, while it is the current one. */
  #refreshTarget(sse: boolean, current: () => boolean): RefreshTarget {
    return {
      sse,
      current,
      open: () => this.#host.isOpen(),
      reopen: (reason) => this.#host.reopen(reason),
      send: (frame) => this.send(frame),
    };
  }
}
