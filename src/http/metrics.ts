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
  type: "counter" | "gauge";
  values: Map<string, number>;
  read?: () => number;
}

export class Counter {
  constructor(private readonly f: Family) {}
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    this.f.values.set(key, (this.f.values.get(key) ?? 0) + by);
  }
  get(labels: Labels = {}): number {
    return this.f.values.get(labelText(labels)) ?? 0;
  }
  /** An incrementer for one label set, its key rendered once (for per-request counting). */
  child(labels: Labels): () => void {
    const key = labelText(labels);
    const values = this.f.values;
    return () => {
      values.set(key, (values.get(key) ?? 0) + 1);
    };
  }
}

export class Registry {
  private readonly families: Family[] = [];

  counter(name: string, help: string): Counter {
    const f: Family = { name, help, type: "counter", values: new Map() };
    this.families.push(f);
    return new Counter(f);
  }

  /** A gauge whose value is read when scraped. */
  gauge(name: string, help: string, read: () => number): void {
    this.families.push({ name, help, type: "gauge", values: new Map(), read });
  }

  /** A counter whose value another part keeps; read when scraped. */
  counterFn(name: string, help: string, read: () => number): void {
    this.families.push({ name, help, type: "counter", values: new Map(), read });
  }

  render(): string {
    let out = "";
    for (const f of this.families) {
      out += `# HELP ${f.name} ${f.help}\n# TYPE ${f.name} ${f.type}\n`;
      if (f.read) out += `${f.name} ${f.read()}\n`;
      else for (const [labels, v] of f.values) out += `${f.name}${labels} ${v}\n`;
    }
    return out;
  }
}

/** The counters every part increments; gauges are attached by the server wiring. */
export function createMetrics() {
  const registry = new Registry();
  return {
    registry,
    connects: registry.counter("comet_connects_total", "WebSocket connections accepted"),
    disconnects: registry.counter(
      "comet_disconnects_total",
      "Connections ended, by the close code the server decided or saw",
    ),
    uplinks: registry.counter("comet_uplink_frames_total", "Uplink frames, by type"),
    authFailures: registry.counter("comet_auth_failures_total", "Failed AUTH, by reason"),
    heartbeatTimeouts: registry.counter("comet_heartbeat_timeouts_total", "Sessions closed 4408 for silence"),
    rejected: registry.counter("comet_connections_rejected_total", "Connections refused, by reason"),
    apiRequests: registry.counter("comet_api_requests_total", "HTTP API requests, by method and status"),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
