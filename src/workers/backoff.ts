/**
 * When a dead worker is started again: 100 ms after the first death, doubled per death in a row,
 * at most 5 s; a worker that lived 10 s before it died is not part of a crash loop, and its backoff
 * starts over. From the third death in a row, each restart is logged as an error: a crash loop.
 */
export const BACKOFF_MIN_MS = 100;
export const BACKOFF_MAX_MS = 5000;
const STABLE_MS = 10_000;
const CRASH_LOOP = 3;

export interface Restart {
  /** Deaths in a row, this one included. */
  deaths: number;
  delay: number;
  crashLoop: boolean;
}

/** `deaths`: in a row before this one; `lived`: how long the dead process ran, in ms. */
export function restartAfter(deaths: number, lived: number): Restart {
  const now = lived >= STABLE_MS ? 1 : deaths + 1;
  return {
    deaths: now,
    delay: Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (now - 1)),
    crashLoop: now >= CRASH_LOOP,
  };
}
