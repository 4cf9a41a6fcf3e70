/**
 * Outgoing activity held while the broker is away: a ring of at most `capacity` items. When full,
 * the oldest goes: the newest activity tells a consumer the current state (online, in which room),
 * and per-user order is kept either way.
 */
export class BoundedQueue<T> {
  private readonly ring: Array<T | undefined>;
  private head = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.ring = new Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  /** Adds item; returns how many items were dropped to make room (0 or 1; 1 when capacity is 0). */
  push(item: T): number {
    if (this.capacity === 0) return 1;
    if (this.count === this.capacity) {
      this.ring[this.head] = item;
      this.head = (this.head + 1) % this.capacity;
      return 1;
    }
    this.ring[(this.head + this.count) % this.capacity] = item;
    this.count++;
    return 0;
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const item = this.ring[this.head];
    this.ring[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.count--;
    return item;
  }

  clear(): number {
    const n = this.count;
    this.ring.fill(undefined);
    this.head = 0;
    this.count = 0;
    return n;
  }
}
