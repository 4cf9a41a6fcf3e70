/**
 * With the shared log (history.store: redis), one instance receives a stream's messages from
 * several places at once: its own appends, other instances' over the broker, broker Events it
 * appended once with them. They may come out of seq order, or not at all (the broker is at most
 * once). This puts each stream back in order before the hub delivers it: a message after a hole
 * waits until the hole is filled (by the broker, or read from the log after half of fill_wait),
 * and at fill_wait what follows the hole is delivered as a jump in seq, which clients treat as a
 * gap. Every instance so delivers the same seq for the same message, in the same order, once.
 *
 * Only streams with a holder here (a session's user, a room with a member here, the world) are
 * ordered: each gets its state when its first holder comes, seeded from the log's top, and loses
 * it with its last holder. Messages of other streams reach nobody here and pass straight through.
 */
import type { Delivery } from "../protocol/commands.ts";
import type { HistoryLog, Position } from "../broker/history-log.ts";
import { deliveryOf } from "./streams.ts";

export interface StreamOrderOptions {
  /** Delivers here at the message's position (Hub.deliverAt). */
  deliver(d: Delivery, seq: number, epoch: string): void;
  log: Pick<HistoryLog, "peek" | "range">;
  /** history.redis.fill_wait, ms. */
  fillWaitMs: number;
  /** Holes filled from the log, and jumps (holes given up on: the seqs skipped). */
  counted?: { filled(n: number): void; jumped(n: number): void; late(): void };
}

interface Early {
  epoch: string;
  seq: number;
  d: Delivery;
}

class State {
  holders = 1;
  /** Until the log's top is known, what comes waits here. */
  seeding: Early[] | null = [];
  /** undefined: not known (the log did not answer the seed); the first message sets it. */
  epoch: string | undefined;
  /** An epoch this stream had before (the log lost the stream): a late message of it is dropped. */
  retired: string | undefined;
  /** The last seq delivered here (or the top when the stream got its first holder). */
  last = 0;
  /** A seq known to be in the log (a recovery read it): a hole up to it is filled like any. */
  known = 0;
  pending: Map<number, Delivery> | null = null;
  fillTimer: ReturnType<typeof setTimeout> | undefined;
  jumpTimer: ReturnType<typeof setTimeout> | undefined;
  waiters: Array<{ epoch: string; seq: number; done: () => void }> | null = null;
}

export class StreamOrder {
  private readonly states = new Map<string, State>();

  constructor(private readonly opts: StreamOrderOptions) {}

  /** A holder of the stream came here (a session of the user, a member of the room). */
  hold(stream: string): void {
    const st = this.states.get(stream);
    if (st) {
      st.holders++;
      return;
    }
    const fresh = new State();
    this.states.set(stream, fresh);
    this.opts.log.peek(stream).then(
      (top) => this.seeded(stream, fresh, top === null ? { epoch: "", seq: 0 } : top),
      () => this.seeded(stream, fresh, undefined),
    );
  }

  /** Its holder went; with the last one, the stream's state goes. */
  release(stream: string): void {
    const st = this.states.get(stream);
    if (!st || --st.holders > 0) return;
    this.states.delete(stream);
    clearTimeout(st.fillTimer);
    clearTimeout(st.jumpTimer);
    for (const w of st.waiters ?? []) w.done();
  }

  /** Streams ordered here now. */
  get size(): number {
    return this.states.size;
  }

  /** A message of `stream` at its position in the log, from wherever it came. */
  receive(stream: string, epoch: string, seq: number, d: Delivery): void {
    const st = this.states.get(stream);
    if (!st) {
      this.opts.deliver(d, seq, epoch);
      return;
    }
    if (st.seeding) {
      st.seeding.push({ epoch, seq, d });
      return;
    }
    if (st.epoch === undefined) {
      st.epoch = epoch;
      st.last = seq - 1;
    } else if (epoch !== st.epoch) {
      if (epoch === st.retired) {
        this.opts.counted?.late();
        return;
      }
      this.newEpoch(st, epoch);
    }
    if (seq <= st.last) {
      this.opts.counted?.late();
      return;
    }
    st.pending ??= new Map();
    st.pending.set(seq, d);
    this.drain(stream, st);
  }

  /**
   * Resolves once this instance delivered `stream` up to `at` (a recovery replayed up to there, so
   * that it hands its session over to live delivery only after it), or when it never will: another
   * epoch, the stream not held here, or fill_wait and a round trip passed (the hole was jumped).
   */
  settle(stream: string, at: Position): Promise<void> {
    const st = this.states.get(stream);
    if (!st || (st.seeding === null && (st.epoch !== at.epoch || st.last >= at.seq))) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, this.opts.fillWaitMs * 2 + 50);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      st.waiters ??= [];
      st.waiters.push({ epoch: at.epoch, seq: at.seq, done });
      if (st.seeding === null && st.epoch === at.epoch && at.seq > st.known) {
        st.known = at.seq;
        this.drain(stream, st);
      }
    });
  }

  private seeded(stream: string, st: State, top: Position | undefined): void {
    if (this.states.get(stream) !== st || !st.seeding) return;
    const early = st.seeding.sort((a, b) => a.seq - b.seq);
    st.seeding = null;
    if (top) {
      // What came while the top was read, at or below it, was appended after this holder came: it
      // is delivered too. A stream the log does not have keeps "" as its epoch, which no message
      // has: the first one starts its numbering from 1 (newEpoch).
      const first = early.find((e) => e.epoch === top.epoch);
      st.epoch = top.epoch;
      st.last = first ? Math.min(top.seq, first.seq - 1) : top.seq;
    }
    for (const e of early) this.receive(stream, e.epoch, e.seq, e.d);
    // A recovery that waited for the seed read the log up to its position: fill up to there.
    for (const w of st.waiters ?? []) if (w.epoch === st.epoch && w.seq > st.known) st.known = w.seq;
    if (st.epoch !== undefined) this.drain(stream, st);
    else this.wake(st);
  }

  /** The log lost the stream and numbers it again from 1: what waited of the old numbering goes out as it is. */
  private newEpoch(st: State, epoch: string): void {
    const old = st.pending ? [...st.pending].sort(([a], [b]) => a - b) : [];
    for (const [seq, d] of old) this.opts.deliver(d, seq, st.epoch as string);
    this.clearHole(st);
    st.retired = st.epoch;
    st.epoch = epoch;
    st.last = 0;
    st.known = 0;
  }

  /** Delivers what follows `last` without a hole; arms the timers while a hole remains. */
  private drain(stream: string, st: State): void {
    const pending = st.pending;
    const epoch = st.epoch as string;
    if (pending) {
      let d = pending.get(st.last + 1);
      while (d !== undefined) {
        pending.delete(++st.last);
        this.opts.deliver(d, st.last, epoch);
        d = pending.get(st.last + 1);
      }
    }
    if ((pending && pending.size > 0) || st.known > st.last) {
      if (st.jumpTimer === undefined) this.armHole(stream, st);
    } else this.clearHole(st);
    this.wake(st);
  }

  private armHole(stream: string, st: State): void {
    const wait = this.opts.fillWaitMs;
    st.fillTimer = setTimeout(() => this.fill(stream, st), Math.floor(wait / 2));
    st.jumpTimer = setTimeout(() => this.jump(stream, st), wait);
  }

  private clearHole(st: State): void {
    clearTimeout(st.fillTimer);
    clearTimeout(st.jumpTimer);
    st.fillTimer = st.jumpTimer = undefined;
  }

  /** Reads the hole from the log: what the broker did not bring (yet). */
  private fill(stream: string, st: State): void {
    const epoch = st.epoch as string;
    const from = st.last;
    const upTo = this.holeEnd(st);
    if (upTo <= from) return;
    this.opts.log.range(stream, from, upTo, epoch).then(
      (entries) => {
        if (this.states.get(stream) !== st || st.epoch !== epoch || !entries) return;
        let n = 0;
        for (const e of entries) {
          if (e.seq <= st.last) continue;
          st.pending ??= new Map();
          if (!st.pending.has(e.seq)) n++;
          st.pending.set(e.seq, deliveryOf(stream, e.evt));
        }
        if (n > 0) this.opts.counted?.filled(n);
        this.clearHole(st);
        this.drain(stream, st);
      },
      () => {},
    );
  }

  /** fill_wait passed with the hole still there: what follows it goes out, as a jump in seq. */
  private jump(stream: string, st: State): void {
    st.fillTimer = st.jumpTimer = undefined;
    if (this.states.get(stream) !== st) return;
    const to = this.holeEnd(st);
    if (to > st.last) {
      this.opts.counted?.jumped(to - st.last);
      st.last = to;
    }
    this.drain(stream, st);
  }

  /** The last seq of the first hole: before the first message that waits, or `known`. */
  private holeEnd(st: State): number {
    let min = Number.POSITIVE_INFINITY;
    for (const seq of st.pending?.keys() ?? []) if (seq < min) min = seq;
    return min === Number.POSITIVE_INFINITY ? st.known : min - 1;
  }

  private wake(st: State): void {
    if (!st.waiters) return;
    st.waiters = st.waiters.filter((w) => {
      if (st.seeding !== null || (w.epoch === st.epoch && w.seq > st.last)) return true;
      w.done();
      return false;
    });
    if (st.waiters.length === 0) st.waiters = null;
  }
}
