/**
 * What the hub keeps of what it delivered. Each stream (a user's, a room's, the world's) numbers
 * its messages (`seq` from 1 under an `epoch`) and keeps its last `size` of them for `ttl`, all
 * streams within one byte budget for the instance, oldest first out. Pure: time comes in as an
 * argument; no timers, no I/O (the gateway's sweep calls sweep()).
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
 * What one kept message costs beyond its evt: the entry object and its links, and a share of the
 * stream's array (measured on Bun: ~90 bytes; rounded up, so the budget errs on the safe side).
 */
export const ENTRY_OVERHEAD = 128;

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

export class Stream {
  /** The seq of the last message numbered; 0 before the first. */
  seq = 0;
  /** Kept messages, oldest first, with consecutive seqs (they only ever leave from the front). */
  readonly kept: Entry[] = [];
  /** Something holds the stream (a session, a room's members); else it dies `ttl` after releasedAt. */
  held = false;
  releasedAt = 0;

  constructor(
    readonly kind: Kind,
    /** The uid or rid it belongs to ("" for the world). */
    readonly key: string,
    /** As frames name it: "u", "w" or "r:<rid>". */
    readonly name: string,
    readonly epoch: string,
  ) {}
}

/** A base unique to this process, so that no epoch of a restarted instance matches one before. */
function processBase(): string {
  const r = new Uint32Array(2);
  crypto.getRandomValues(r);
  return ((r[0] as number).toString(36) + (r[1] as number).toString(36)).slice(0, 10);
}

export class History {
  readonly world: Stream;
  private readonly users = new Map<string, Stream>();
  private readonly rooms = new Map<string, Stream>();
  /** Streams nobody holds, in the order they were released (so the oldest are first). */
  private readonly released = new Set<Stream>();
  private readonly base = processBase();
  private epochs = 0;
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  /** Bytes of every kept entry (evt in UTF-8 + ENTRY_OVERHEAD). */
  bytes = 0;
  entries = 0;
  readonly evicted: Record<EvictReason, number> = { size: 0, ttl: 0, max_bytes: 0 };

  constructor(readonly limits: HistoryLimits) {
    this.world = this.make("w", "", "w");
    this.world.held = true;
  }

  private make(kind: Kind, key: string, name: string): Stream {
    return new Stream(kind, key, name, `${this.base}${(++this.epochs).toString(36)}`);
  }

  /** The user's stream while it lives (held, or released less than ttl ago). */
  user(uid: string, now: number): Stream | undefined {
    return this.alive(this.users.get(uid), now);
  }

  /** The room's stream while it lives. */
  room(rid: string, now: number): Stream | undefined {
    return this.alive(this.rooms.get(rid), now);
  }

  /** A session of uid starts here: its stream, made again when it had died. */
  holdUser(uid: string, now: number): Stream {
    return this.hold(this.users, "u", uid, "u", now);
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
    this.released.add(s);
  }

  private hold(map: Map<string, Stream>, kind: Kind, key: string, name: string, now: number): Stream {
    let s = this.alive(map.get(key), now);
    if (!s) {
      s = this.make(kind, key, name);
      map.set(key, s);
    }
    if (!s.held) {
      s.held = true;
      this.released.delete(s);
    }
    return s;
  }

  private alive(s: Stream | undefined, now: number): Stream | undefined {
    if (!s || s.held || now - s.releasedAt < this.limits.ttl) return s;
    this.drop(s);
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
    s.kept.push(e);
    this.bytes += bytes;
    this.entries++;
    if (s.kept.length > size) this.evict(s.kept[0] as Entry, "size");
    while (this.bytes > maxBytes && this.oldest) this.evict(this.oldest, "max_bytes");
    return seq;
  }

  /**
   * What follows pos in s, when all of it is still kept; null when it cannot be recovered (another
   * epoch, seq ahead of the stream, a message after seq evicted or aged out). Never a partial list.
   */
  recover(s: Stream | undefined, pos: Position, now: number): readonly Entry[] | null {
    if (!s || pos.epoch !== s.epoch || pos.seq > s.seq || pos.seq < 0) return null;
    this.expire(s, now);
    if (pos.seq === s.seq) return [];
    const first = s.kept[0];
    if (!first || first.seq > pos.seq + 1) return null;
    return s.kept.slice(pos.seq + 1 - first.seq);
  }

  /** Drops messages older than ttl and streams released more than ttl ago. */
  sweep(now: number): void {
    const { ttl } = this.limits;
    while (this.oldest && now - this.oldest.at >= ttl) this.evict(this.oldest, "ttl");
    for (const s of this.released) {
      if (now - s.releasedAt < ttl) break;
      this.drop(s);
    }
  }

  /** Streams that live (the world's included). */
  get streams(): number {
    return this.users.size + this.rooms.size + 1;
  }

  /** Drops the messages of s older than ttl (recovery must not count on what a sweep would drop). */
  private expire(s: Stream, now: number): void {
    const { ttl } = this.limits;
    let e = s.kept[0];
    while (e && now - e.at >= ttl) {
      this.evict(e, "ttl");
      e = s.kept[0];
    }
  }

  private drop(s: Stream): void {
    while (s.kept.length > 0) this.evict(s.kept[0] as Entry, "ttl");
    this.released.delete(s);
    const map = s.kind === "u" ? this.users : this.rooms;
    if (map.get(s.key) === s) map.delete(s.key);
  }

  /** Removes e, which is the oldest kept entry of its stream. */
  private evict(e: Entry, reason: EvictReason): void {
    e.stream.kept.shift();
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
