/**
 * Token refresh: with a token function, a fresh token is fetched and sent as a re-AUTH before the
 * current one expires (an SSE stream, which cannot re-AUTH, is replaced by a new one instead).
 */
import { jwtExpiryMs } from "./jwt.ts";

// setTimeout fires at once for delays beyond a signed 32-bit millisecond count.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The link a refresh was scheduled for, and what it can do with it. */
export interface RefreshTarget {
  /** An SSE stream: it cannot re-AUTH, so a new one, with a fresh token, recovers where this one stands. */
  sse: boolean;
  /** The link is still the client's. */
  current(): boolean;
  /** The client's state is open. */
  open(): boolean;
  reopen(reason: string): void;
  send(frame: unknown): void;
}

export class TokenRefresh {
  readonly #fetchToken: (() => Promise<string>) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(token: string | (() => Promise<string>)) {
    this.#fetchToken = typeof token === "function" ? token : undefined;
  }

  /** The link opened with token: refresh it when three quarters of what is left have passed, and at most a minute before expiry. */
  schedule(token: string, target: RefreshTarget): void {
    clearTimeout(this.#timer);
    if (this.#fetchToken === undefined) return;
    const exp = jwtExpiryMs(token);
    if (exp === undefined) return;
    const remaining = exp - Date.now();
    this.#at(Math.max(0, remaining - Math.min(60_000, remaining / 4)), exp, target);
  }

  /** The link is dropped: no refresh for it. */
  cancel(): void {
    clearTimeout(this.#timer);
  }

  #at(delay: number, exp: number, target: RefreshTarget): void {
    const fetchToken = this.#fetchToken as () => Promise<string>;
    if (delay > MAX_TIMER_MS) {
      this.#timer = setTimeout(() => this.#at(delay - MAX_TIMER_MS, exp, target), MAX_TIMER_MS);
      return;
    }
    this.#timer = setTimeout(async () => {
      if (target.sse) {
        if (target.current() && target.open()) target.reopen("refreshing the token");
        return;
      }
      let fresh: string;
      try {
        fresh = await fetchToken();
        if (typeof fresh !== "string") throw new TypeError(`expected a string, got ${typeof fresh}`);
      } catch {
        // Try again halfway to expiry; if it never works, the server ends the session with 4401.
        const left = exp - Date.now();
        if (target.current() && left > 1000) this.#at(left / 2, exp, target);
        return;
      }
      if (!target.current() || !target.open()) return;
      // Without a join the server keeps the room.
      target.send({ t: "AUTH", auth: { token: fresh } });
      this.schedule(fresh, target);
    }, delay);
  }
}
