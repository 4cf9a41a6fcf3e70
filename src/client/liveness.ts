/**
 * Whether the current link lives and whether it worked: when it opened, when it last brought
 * anything, and a watchdog that declares it dead after 3 heartbeat intervals of silence (the
 * handshake included: a peer that accepts TCP and never answers is as dead as one that stops
 * talking later).
 */

// A connection that delivered a frame, or stayed up this long, worked: the next loss starts the backoff over.
const PROVEN_AFTER_MS = 10_000;

export class Liveness {
  readonly #heartbeat: number;
  /** When the link opened; 0 while it has not. */
  #openedAt = 0;
  #lastFrame = 0;
  #gotFrame = false;
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(heartbeat: number) {
    this.#heartbeat = heartbeat;
  }

  /** The link has opened (and not been lost since). */
  get opened(): boolean {
    return this.#openedAt > 0;
  }

  /** A new link is being dialled: the watchdog runs from now, and calls dead(limit) on silence. */
  dialing(dead: (limitMs: number) => void): void {
    this.#openedAt = 0;
    this.#gotFrame = false;
    this.#lastFrame = Date.now();
    clearInterval(this.#watchdog);
    const limit = 3 * this.#heartbeat;
    // A quarter interval between checks: the link is declared dead at most a quarter interval late.
    this.#watchdog = setInterval(
      () => {
        if (Date.now() - this.#lastFrame > limit) dead(limit);
      },
      Math.max(10, Math.floor(this.#heartbeat / 4)),
    );
  }

  /** The link opened. */
  open(): void {
    this.#openedAt = Date.now();
    this.#lastFrame = this.#openedAt;
  }

  /** The link brought something: a frame, or any bytes of a stream. */
  heard(): void {
    this.#lastFrame = Date.now();
    this.#gotFrame = true;
  }

  /** The link delivered a frame, or stayed up long enough: the next loss starts the backoff over. */
  worked(): boolean {
    return this.#gotFrame || (this.#openedAt > 0 && Date.now() - this.#openedAt >= PROVEN_AFTER_MS);
  }

  /** The watchdog stops (the link is dropped). */
  stop(): void {
    clearInterval(this.#watchdog);
  }

  /** The link is dropped for a new one at once: it no longer counts as open. */
  closed(): void {
    this.#openedAt = 0;
  }

  /** The link is lost: neither its opening nor its frames count any more. */
  reset(): void {
    this.#openedAt = 0;
    this.#gotFrame = false;
  }
}
