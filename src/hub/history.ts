/**
 * What the hub keeps of what it delivered. Each stream (a user's, a room's, the world's) numbers
 * its messages (`seq` from 1 under an `epoch`) and keeps its last `size` of them for `ttl`, all
 * streams within one byte budget for the instance, oldest first out. Pure: time comes in as an
 * argument; no timers, no I/O (the gateway's sweep calls sweep()).
 *
 * The budget counts the streams too, from when they are made: each costs STREAM_OVERHEAD plus its
 * key's bytes, kept messages or not, so that a client JOINing room after room of long names (each
 * left behind for `ttl`) is bounded by max_bytes like a publisher. Over the budget, streams nobody
 * holds go first, the longest released first (their messages with them), then the oldest messages
 * of any stream. A held stream (a session's, a room's with members) is never dropped: when held
 * streams alone pass the budget it is counted as it is and nothing is refused; what bounds them
 * is the sessions (limits.max_connections), each holding at most its user's stream and its room's.
 */

export interface HistoryLimits {
  /** Messages kept per stream; 0 keeps none (positions are still numbered). */
  size: number;
  /** Milliseconds a message is kept, and a stream outlives its last holder. */
  ttl: number;
  /** One budget for every kept message of the instance. */
  maxBytes: number;
}

/** Why a kept message went: its stream's size, its age (or its stream's), the instance's budget. */
export type EvictReason = "size" | "ttl" | "max_bytes";

/** Where a client stands in a stream, as it sends it back in `recover`. */
export interface Position {
  epoch: string;
  seq: number;
}

/**
 * What one kept message costs beyond its evt's characters: the entry object and its links, the
 * stream array's slot, the string's header. Measured on Bun 1.4 at 80 to 110 bytes (10,000 users
 * × 32 messages of 1 KiB, test/soak/history-memory.test.ts); counted as 192 so that the budget
 * bounds the heap, not only the accounting, with room for what one collection leaves behind.
 */
export const ENTRY_OVERHEAD = 192;

/**
 * What a live stream costs beyond its key and its messages (the Stream, its array when it keeps
 * any, its epoch's text, its map slot while released; measured ~100), from when it is made.
 */
export const STREAM_OVERHEAD = 160;

export interface Entry {
  readonly seq: number;
  readonly evt: string;
  readonly at: number;
  readonly bytes: number;
  readonly stream: Stream;
  // The instance's list of every kept entry, oldest first: the byte budget evicts from its head.
  older: Entry | null;
  newer: Entry | null;
}

type Kind = "u" | "r" | "w";

/**
 * Epochs: a base random to this process, so that none of a restarted instance matches one before,
 * and a counter shared by every History of the process, so that two servers in one process (tests)
 * never share one either.
 */
const EPOCH_BASE = (() => {
  const r = new Uint32Array(2);
  crypto.getRandomValues(r);
  return ((r[0] as number).toString(36) + (r[1] as number).toString(36)).slice(0, 10);
})();
let epochs = 0;

/**
 * One stream's numbering and kept messages. Every session holds one (its user's), so it is kept
 * small: the array and the epoch's string are made when first needed.
 */
export class Stream {
  /** The seq of the last message numbered; 0 before the first. */
  seq = 0;
  /** Kept messages, oldest first, with consecutive seqs (they only ever leave from the front). */
  kept: Entry[] | null = null;
  /** Something holds the stream (a session, a room's members); else it dies `ttl` after releasedAt. */
  held = true;
  releasedAt = 0;
  private epochText: string | undefined;

  constructor(
    readonly kind: Kind,
    /** The uid or rid it belongs to ("" for the world). */
    readonly key: string,
    /** As frames name it: "u", "w" or "r:<rid>". */
    readonly name: string,
    private readonly epochN: number,
    /** Its own bytes in the budget while it lives: STREAM_OVERHEAD, its key, a room's name too. */
    readonly cost: number,
  ) {}

  /** Opaque; another for every stream this process makes, and unlike any of another process. */
  get epoch(): string {
    this.epochText ??= `${EPOCH_BASE}${this.epochN.toString(36)}`;
    return this.epochText;
  }
}

export class History {
  readonly world: Stream;
  // Streams nobody holds, by uid and by rid, until ttl has passed: a held stream is reached
  // through its holder (Session.stream, Room.stream), so a live session costs no map entry here.
  private readonly users = new Map<string, Stream>();
  private readonly rooms = new Map<string, Stream>();
  /** The same streams, in the order they were released (so the oldest are first). */
  private readonly released = new Set<Stream>();
  /** Streams held now (the world's included). */
  private held = 0;
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  /** Bytes of every kept entry (evt in UTF-8 + ENTRY_OVERHEAD), and of every live stream (its cost). */
  bytes = 0;
  entries = 0;
  readonly evicted: Record<EvictReason, number> = { size: 0, ttl: 0, max_bytes: 0 };
  /** Released streams dropped before their ttl to stay within max_bytes. */
  streamsEvicted = 0;

  constructor(readonly limits: HistoryLimits) {
    this.world = this.make("w", "", "w");
  }

  private make(kind: Kind, key: string, name: string): Stream {
    this.held++;
    // UTF-8 bytes, never fewer than the string holds in memory; a room's name ("r:" + rid) is a
    // second string of them.
    const keyBytes = Buffer.byteLength(key, "utf8");
    const cost = STREAM_OVERHEAD + (kind === "r" ? 2 * keyBytes + 2 : keyBytes);
    const s = new Stream(kind, key, name, ++epochs, cost);
    this.bytes += cost;
    if (this.bytes > this.limits.maxBytes) this.trim();
    return s;
  }

  /** A released user's stream while it lives (less than ttl ago); a live session has its own. */
  user(uid: string, now: number): Stream | undefined {
    return this.alive(this.users.get(uid), now);
  }

  /** A room's stream after its last member left, while it lives; a room with members has its own. */
  room(rid: string, now: number): Stream | undefined {
    return this.alive(this.rooms.get(rid), now);
  }

  /** uid's stream, held from now on: the one released less than ttl ago, or a new one. */
  holdUser(uid: string, now: number): Stream {
    return this.hold(this.users, "u", uid, "u", now);
  }

  /**
   * A session of uid starts: the stream it left less than ttl ago, held again, or null. A session
   * that is never published to never needs one (holdUser makes it at the first Publish), so an
   * idle connection costs no stream.
   */
  reclaimUser(uid: string, now: number): Stream | null {
    const s = this.alive(this.users.get(uid), now);
    return s ? this.hold(this.users, "u", uid, "u", now) : null;
  }

  /** A room gets its first member: its stream, made again when it had died. */
  holdRoom(rid: string, now: number): Stream {
    return this.hold(this.rooms, "r", rid, `r:${rid}`, now);
  }

  /** Its last holder went: the stream and what it keeps live on for ttl. */
  release(s: Stream, now: number): void {
    if (!s.held || s === this.world) return;
    s.held = false;
    s.releasedAt = now;
    this.held--;
    (s.kind === "u" ? this.users : this.rooms).set(s.key, s);
    this.released.add(s);
  }

  private hold(map: Map<string, Stream>, kind: Kind, key: string, name: string, now: number): Stream {
    const s = this.alive(map.get(key), now);
    if (!s) return this.make(kind, key, name);
    map.delete(key);
    this.released.delete(s);
    s.held = true;
    this.held++;
    return s;
  }

  private alive(s: Stream | undefined, now: number): Stream | undefined {
    if (!s || now - s.releasedAt < this.limits.ttl) return s;
    this.drop(s, "ttl");
    return undefined;
  }

  /** Numbers evt in s and keeps it; returns its seq. */
  append(s: Stream, evt: string, now: number): number {
    const seq = ++s.seq;
    const { size, maxBytes } = this.limits;
    if (size === 0) return seq;
    // UTF-8 bytes: at least what the string holds in memory (1 byte a character for Latin-1, 2 for
    // the rest), so the budget is never an underestimate.
    const bytes = Buffer.byteLength(evt, "utf8") + ENTRY_OVERHEAD;
    const e: Entry = { seq, evt, at: now, bytes, stream: s, older: this.newest, newer: null };
    if (this.newest) this.newest.newer = e;
    else this.oldest = e;
    this.newest = e;
    s.kept ??= [];
    const kept = s.kept;
    kept.push(e);
    this.bytes += bytes;
    this.entries++;
    if (kept.length > size) this.evict(kept[0] as Entry, "size");
    if (this.bytes > maxBytes) this.trim();
    return seq;
  }

  /**
   * Back within max_bytes, when it can be: released streams first (nobody holds them; the longest
   * released first), then the oldest messages. Held streams' own cost stays, counted.
   */
  private trim(): void {
    const { maxBytes } = this.limits;
    for (const s of this.released) {
      if (this.bytes <= maxBytes) return;
      this.drop(s, "max_bytes");
      this.streamsEvicted++;
    }
    while (this.bytes > maxBytes && this.oldest) this.evict(this.oldest, "max_bytes");
  }

  /**
   * What follows pos in s, when all of it is still kept; null when it cannot be recovered (another
   * epoch, seq ahead of the stream, a message after seq evicted or aged out). Never a partial list.
   */
  recover(s: Stream | undefined, pos: Position, now: number): readonly Entry[] | null {
    if (!s || pos.epoch !== s.epoch || pos.seq > s.seq || pos.seq < 0) return null;
    this.expire(s, now);
    if (pos.seq === s.seq) return [];
    const first = s.kept?.[0];
    if (!first || first.seq > pos.seq + 1) return null;
    return (s.kept as Entry[]).slice(pos.seq + 1 - first.seq);
  }

  /** Drops messages older than ttl and streams released more than ttl ago. */
  sweep(now: number): void {
    const { ttl } = this.limits;
    while (this.oldest && now - this.oldest.at >= ttl) this.evict(this.oldest, "ttl");
    for (const s of this.released) {
      if (now - s.releasedAt < ttl) break;
      this.drop(s, "ttl");
    }
  }

  /** Streams that live: held, or released within ttl (the world's included). */
  get streams(): number {
    return this.held + this.users.size + this.rooms.size;
  }

  /** Drops the messages of s older than ttl (recovery must not count on what a sweep would drop). */
  private expire(s: Stream, now: number): void {
    const { ttl } = this.limits;
    let e = s.kept?.[0];
    while (e && now - e.at >= ttl) {
      this.evict(e, "ttl");
      e = s.kept?.[0];
    }
  }

  /** A released stream goes, with what it keeps. */
  private drop(s: Stream, reason: EvictReason): void {
    if (!this.released.delete(s)) return;
    const kept = s.kept;
    while (kept && kept.length > 0) this.evict(kept[0] as Entry, reason);
    const map = s.kind === "u" ? this.users : this.rooms;
    if (map.get(s.key) === s) map.delete(s.key);
    this.bytes -= s.cost;
  }

  /** Removes e, which is the oldest kept entry of its stream. */
  private evict(e: Entry, reason: EvictReason): void {
    const kept = e.stream.kept as Entry[];
    kept.shift();
    // An emptied stream gives its array back: most streams are quiet most of the time.
    if (kept.length === 0) e.stream.kept = null;
    if (e.older) e.older.newer = e.newer;
    else this.oldest = e.newer;
    if (e.newer) e.newer.older = e.older;
    else this.newest = e.older;
    e.older = e.newer = null;
    this.bytes -= e.bytes;
    this.entries--;
    this.evicted[reason]++;
  }
}
