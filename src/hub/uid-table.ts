/**
 * uid → value in a null-prototype object rather than a Map. JavaScriptCore's Map keeps a hash table
 * that doubles as it grows: at 19,000 sessions it costs 120-170 bytes an entry, a dictionary
 * object about 40 (measured with bun:jsc heapStats). Held once per session, that is an eighth of
 * an idle connection's memory. Any string is a safe key: with no prototype, "__proto__" and
 * "constructor" are own properties like any other.
 */
export class UidTable<V> implements ReadonlyMap<string, V> {
  private table: Record<string, V> = Object.create(null);
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(uid: string): V | undefined {
    return this.table[uid];
  }

  has(uid: string): boolean {
    return this.table[uid] !== undefined;
  }

  set(uid: string, v: V): this {
    if (this.table[uid] === undefined) this.count++;
    this.table[uid] = v;
    return this;
  }

  delete(uid: string): boolean {
    if (this.table[uid] === undefined) return false;
    delete this.table[uid];
    this.count--;
    return true;
  }

  clear(): void {
    this.table = Object.create(null);
    this.count = 0;
  }

  *keys(): MapIterator<string> {
    for (const uid in this.table) yield uid;
  }

  *values(): MapIterator<V> {
    for (const uid in this.table) yield this.table[uid] as V;
  }

  *entries(): MapIterator<[string, V]> {
    for (const uid in this.table) yield [uid, this.table[uid] as V];
  }

  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }

  forEach(fn: (v: V, uid: string, map: ReadonlyMap<string, V>) => void): void {
    for (const uid in this.table) fn(this.table[uid] as V, uid, this);
  }
}
