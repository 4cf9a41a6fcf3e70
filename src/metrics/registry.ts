/**
 * A small, exact Prometheus text-format writer: counters and gauges with labels. Values that other
 * parts already hold (connections, sessions, rooms) are read at scrape time, not kept twice.
 */
type Labels = Record<string, string>;

const escapeLabel = (v: string): string => v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
const labelText = (l: Labels): string => {
  const parts = Object.entries(l).map(([k, v]) => `${k}="${escapeLabel(v)}"`);
  return parts.length ? `{${parts.join(",")}}` : "";
};

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  values: Map<string, number>;
  read?: () => number;
  series?: () => Array<[Labels, number]>;
  histogram?: Histogram;
}

/** A histogram with fixed buckets (seconds), labelled; cumulative buckets are built when scraped. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    private readonly buckets: readonly number[],
  ) {}

  observe(labels: Labels, value: number): void {
    this.with(labels).observe(value);
  }

  /** An observer for one label set, its series looked up once (for per-request timing). */
  with(labels: Labels): { observe(value: number): void } {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) {
      s = { labels, counts: new Array(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.series.set(key, s);
    }
    const series = s;
    return { observe: (value: number) => this.add(series, value) };
  }

  private add(s: { counts: number[]; sum: number; count: number }, value: number): void {
    // A loop, not findIndex: its closure over `value` was made on every observation (every request).
    const { buckets } = this;
    for (let i = 0; i < buckets.length; i++) {
      if (value <= (buckets[i] as number)) {
        (s.counts[i] as number)++;
        break;
      }
    }
    s.sum += value;
    s.count++;
  }

  render(): string {
    let out = "";
    for (const s of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((b, i) => {
        acc += s.counts[i] as number;
        out += `${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${acc}\n`;
      });
      out += `${this.name}_bucket${labelText({ ...s.labels, le: "+Inf" })} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${s.sum}\n${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class Counter {
  /**
   * Each label set's rendered text, by a plain join of its names and values (each value led by its
   * length, so no two sets join alike): an increment with labels on a hot path (a disconnect's code,
   * a presence transition's type) renders and escapes nothing. As many entries as the family has series.
   */
  private readonly keys = new Map<string, string>();
  constructor(private readonly f: Family) {}
  inc(labels?: Labels, by = 1): void {
    this.incKey(labels === undefined ? "" : this.keyOf(labels), by);
  }
  private keyOf(labels: Labels): string {
    let raw = "";
    for (const k in labels) {
      const v = labels[k] as string;
      raw += `${k}=${v.length}:${v}`;
    }
    let key = this.keys.get(raw);
    if (key === undefined) {
      key = labelText(labels);
      this.keys.set(raw, key);
    }
    return key;
  }
  /** A series with its labels rendered once, for hot paths (no allocation per increment). */
  with(labels: Labels): { inc(by?: number): void } {
    const key = labelText(labels);
    return { inc: (by = 1) => this.incKey(key, by) };
  }
  private incKey(key: string, by: number): void {
    this.f.values.set(key, (this.f.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.f.values.get(labelText(labels)) ?? 0;
  }
}

export class Registry {
  private readonly families: Family[] = [];

  counter(name: string, help: string): Counter {
    const f: Family = { name, help, type: "counter", values: new Map() };
    this.families.push(f);
    return new Counter(f);
  }

  histogram(name: string, help: string, buckets: readonly number[]): Histogram {
    const h = new Histogram(name, buckets);
    this.families.push({ name, help, type: "histogram", values: new Map(), histogram: h });
    return h;
  }

  /** A gauge whose value is read when scraped. */
  gauge(name: string, help: string, read: () => number): void {
    this.families.push({ name, help, type: "gauge", values: new Map(), read });
  }

  /** A gauge with labelled series, all read when scraped. */
  gaugeSeries(name: string, help: string, series: () => Array<[Labels, number]>): void {
    this.families.push({ name, help, type: "gauge", values: new Map(), series });
  }

  /** A counter with labelled series whose values another part keeps; read when scraped. */
  counterSeries(name: string, help: string, series: () => Array<[Labels, number]>): void {
    this.families.push({ name, help, type: "counter", values: new Map(), series });
  }

  /** A counter whose value another part keeps; read when scraped. */
  counterFn(name: string, help: string, read: () => number): void {
    this.families.push({ name, help, type: "counter", values: new Map(), read });
  }

  render(): string {
    let out = "";
    for (const f of this.families) {
      out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
      if (f.histogram) out += f.histogram.render();
      else if (f.read) out += `${f.name} ${f.read()}\n`;
      else if (f.series) for (const [labels, v] of f.series()) out += `${f.name}${labelText(labels)} ${v}\n`;
      else for (const [labels, v] of f.values) out += `${f.name}${labels} ${v}\n`;
    }
    return out;
  }
}
