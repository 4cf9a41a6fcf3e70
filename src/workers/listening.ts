/**
 * Which workers listen: the supervisor's side of src/workers/capacity.ts. A worker that says it is
 * full leaves the listening group while another worker still listens; the last one that listens
 * stays, full or not, so that a connect is always answered (refused 4503 by a full worker) rather
 * than queued where nobody accepts it. A worker with room again listens on its own.
 */

export interface Member {
  readonly n: number;
  /** Running and listening, or told to leave. */
  up: boolean;
  /** At limits.max_connections and not down to its lower mark since. */
  full: boolean;
  /** Told to leave, and not listening again since. */
  paused: boolean;
}

export type Order = { n: number; t: "leave" | "rejoin" };

/** What to tell whom, the members updated as if it was done. */
export function rebalance(members: readonly Member[]): Order[] {
  const orders: Order[] = [];
  const listens = (m: Member) => m.up && !m.paused;
  for (const m of members) {
    if (!listens(m) || !m.full) continue;
    if (members.some((o) => o !== m && listens(o))) {
      m.paused = true;
      orders.push({ n: m.n, t: "leave" });
    }
  }
  // Every worker left but one died meanwhile: a full one listens again, and refuses.
  if (!members.some(listens)) {
    const m = members.find((o) => o.up && o.paused);
    if (m) {
      m.paused = false;
      orders.push({ n: m.n, t: "rejoin" });
    }
  }
  return orders;
}

/** A worker's state once its process is new (started, or replaced): listening, with room. */
export function fresh(m: Member, up: boolean): void {
  m.up = up;
  m.full = false;
  m.paused = false;
}
