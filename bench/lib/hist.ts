/**
 * A latency histogram in microseconds: exact below 1,024 µs, then 512 linear buckets per power
 * of two (relative error under 0.2 %). Fixed size, cheap to record, merged across processes as
 * sparse [index, count] pairs.
 */
const LINEAR = 1024;
const SUB = 512;
const SIZE = LINEAR + 22 * SUB;
const MAX_VALUE = 2 ** 31 - 1;

function indexOf(v: number): number {
  if (v < LINEAR) return v < 0 ? 0 : v | 0;
  if (v > MAX_VALUE) v = MAX_VALUE;
  const e = 31 - Math.clz32(v) - 9;
  return LINEAR + (e - 1) * SUB + ((v >>> e) - SUB);
}

/** The middle of a bucket, as the value it stands for. */
function bucketValue(i: number): number {
  if (i < LINEAR) return i;
  const e = Math.floor((i - LINEAR) / SUB) + 1;
  const sub = (i - LINEAR) % SUB;
  return ((sub + SUB) << e) + ((1 << e) >> 1);
}

export type SparseHist = { n: number; max: number; sum: number; buckets: Array<[number, number]> };

export interface Summary {
  n: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  mean_ms: number;
}

export class Hist {
  counts = new Float64Array(SIZE);
  n = 0;
  max = 0;
  sum = 0;

  record(us: number): void {
    const i = indexOf(us);
    this.counts[i] = (this.counts[i] as number) + 1;
    this.n++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.n = 0;
    this.max = 0;
    this.sum = 0;
  }

  /** The value at or below which p % of the samples lie (the exact max for p = 100). */
  percentile(p: number): number {
    if (this.n === 0) return 0;
    if (p >= 100) return this.max;
    const rank = Math.max(1, Math.ceil((p / 100) * this.n));
    let seen = 0;
    for (let i = 0; i < SIZE; i++) {
      seen += this.counts[i] as number;
      if (seen >= rank) return Math.min(bucketValue(i), this.max);
    }
    return this.max;
  }

  toSparse(): SparseHist {
    const buckets: Array<[number, number]> = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i]) buckets.push([i, this.counts[i] as number]);
    return { n: this.n, max: this.max, sum: this.sum, buckets };
  }

  merge(s: SparseHist): this {
    for (const [i, c] of s.buckets) this.counts[i] = (this.counts[i] as number) + c;
    this.n += s.n;
    this.sum += s.sum;
    if (s.max > this.max) this.max = s.max;
    return this;
  }

  summary(): Summary {
    const ms = (us: number) => Math.round(us) / 1000;
    return {
      n: this.n,
      p50_ms: ms(this.percentile(50)),
      p99_ms: ms(this.percentile(99)),
      max_ms: ms(this.max),
      mean_ms: this.n ? ms(this.sum / this.n) : 0,
    };
  }
}
