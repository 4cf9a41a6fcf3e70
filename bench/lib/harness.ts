/** What the scenarios share: generators, subscribers spread over them, waiting, merged statistics. */
import type { ConnectResult, RecvStats } from "./wsreports.ts";
import { nowUs, sleep } from "./clock.ts";
import { Hist } from "./hist.ts";
import { cpuBusySeconds, cpuSeconds, type Generator, startGenerator, stopProcess } from "./procs.ts";
import { SECRET, type Target } from "./targets.ts";

export interface Ctx {
  /** The runtime Comet's server runs on (the floor is always Bun). */
  runtime: "bun" | "deno";
  root: string;
  /** Upper bound on any one child process's life, seconds. */
  maxSeconds: number;
  /** Subscribers per generator process (each process must stay under the open-files limit). */
  perGen: number;
  /** Handshakes in flight per generator. */
  concurrency: number;
  logLevel: string;
  /** Comet's --workers. */
  workers: number;
  cpuProfDir?: string;
  /** Config every Comet of the run gets beyond the scenario's own (history-store: the store). */
  extraYaml?: string;
  log: (msg: string) => void;
}

export type Metrics = Record<string, number | string | null>;

export interface Result {
  scenario: string;
  /** What ran: Comet or the floor; for compression, Comet plain or with deflate. */
  target: "comet" | "floor" | "plain" | "deflate" | "websocket" | "sse" | "memory" | "redis";
  params: Record<string, number | string>;
  metrics: Metrics;
  skipped?: string;
}

export async function waitFor(what: string, timeoutMs: number, cond: () => Promise<boolean> | boolean, everyMs = 10) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export class Gens {
  constructor(readonly list: Generator[]) {}

  static async start(ctx: Ctx, n: number, name = "gen"): Promise<Gens> {
    return new Gens(
      await Promise.all(Array.from({ length: n }, (_, i) => startGenerator(ctx.root, `${name}${i}`, ctx.maxSeconds))),
    );
  }

  cpuS(): number {
    let s = 0;
    for (const g of this.list) {
      try {
        s += cpuSeconds(g.pid);
      } catch {
        // exited
      }
    }
    return s;
  }

  /**
   * N subscribers u0..u(N-1) spread evenly, all in room `rid` (if any); resolves when all are
   * upgraded (WebSockets), or answered 200 (SSE streams, Comet only).
   */
  async subscribe(
    target: Target,
    n: number,
    rid: string,
    concurrency: number,
    deflate = false,
    sse = false,
  ): Promise<ConnectResult> {
    const k = this.list.length;
    const per = Math.ceil(n / k);
    const parts = await Promise.all(
      this.list.map((g, i) =>
        g.ch.call<ConnectResult>(
          "subscribers",
          {
            host: target.host,
            port: target.port,
            path: sse ? "/comet/sse" : target.wsPath,
            from: i * per,
            count: Math.max(0, Math.min(per, n - i * per)),
            secret: SECRET,
            rid,
            concurrency,
            deflate,
            sse,
          },
          300_000,
        ),
      ),
    );
    const sum = (f: (r: ConnectResult) => number) => parts.reduce((a, r) => a + f(r), 0);
    const statuses: Record<string, number> = {};
    for (const p of parts) for (const [s, c] of Object.entries(p.statuses)) statuses[s] = (statuses[s] ?? 0) + c;
    return {
      upgraded: sum((r) => r.upgraded),
      failed: sum((r) => r.failed),
      retries: sum((r) => r.retries),
      t0_us: Math.min(...parts.map((r) => r.t0_us)),
      t1_us: Math.max(...parts.map((r) => r.t1_us)),
      statuses,
    };
  }

  async call<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs?: number): Promise<T[]> {
    return Promise.all(this.list.map((g) => g.ch.call<T>(cmd, args, timeoutMs)));
  }

  async received(): Promise<number> {
    const s = await this.call<{ received: number }>("count");
    return s.reduce((a, r) => a + r.received, 0);
  }

  async stats(): Promise<Merged> {
    return merge(await this.call<RecvStats>("stats"));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.list.map(async (g) => {
        try {
          await g.ch.call("close", {}, 5000);
        } catch {
          // already gone
        }
        // Closing its stdin ends a generator by itself (and lets it write a CPU profile).
        (g.proc.stdin as { end(): void } | undefined)?.end();
        await Promise.race([g.proc.exited, sleep(3000)]);
        await stopProcess(g.proc, 2000);
      }),
    );
  }
}

export interface Merged {
  received: number;
  bad: number;
  firstUs: number;
  lastUs: number;
  hist: Hist;
  seqCount: number[];
  seqMaxUs: number[];
  closes: Record<string, number>;
  wireBytes: number;
}

export function merge(parts: RecvStats[]): Merged {
  const hist = new Hist();
  const m: Merged = {
    received: 0,
    bad: 0,
    firstUs: Number.POSITIVE_INFINITY,
    lastUs: 0,
    hist,
    seqCount: [],
    seqMaxUs: [],
    closes: {},
    wireBytes: 0,
  };
  for (const p of parts) {
    m.received += p.received;
    m.bad += p.bad;
    m.wireBytes += p.wire_bytes;
    if (p.received > 0) {
      m.firstUs = Math.min(m.firstUs, p.first_us);
      m.lastUs = Math.max(m.lastUs, p.last_us);
    }
    hist.merge(p.hist);
    p.seq_count.forEach((c, i) => {
      m.seqCount[i] = (m.seqCount[i] ?? 0) + c;
    });
    p.seq_max_us.forEach((v, i) => {
      m.seqMaxUs[i] = Math.max(m.seqMaxUs[i] ?? 0, v);
    });
    for (const [c, n] of Object.entries(p.closes)) m.closes[c] = (m.closes[c] ?? 0) + n;
  }
  if (m.received === 0) m.firstUs = 0;
  return m;
}

/**
 * CPU use over one measured phase: the server's (seconds, and % of the phase's wall time), the
 * generators' (% of one core), and what other processes took of the server's core meanwhile
 * (cpu0_other_pct: the machine is shared; a high figure marks a run disturbed by others).
 */
export class Meter {
  private readonly srv0: number;
  private readonly sys0: number;
  private readonly gen0: number;
  private readonly busy0: number;
  readonly t0 = nowUs();

  constructor(
    private readonly target: Target,
    private readonly gens: Gens[],
  ) {
    this.srv0 = target.cpuS();
    this.sys0 = target.sysS();
    this.gen0 = this.genCpu();
    this.busy0 = cpuBusySeconds();
  }

  private genCpu(): number {
    return this.gens.reduce((a, g) => a + g.cpuS(), 0);
  }

  /** Reads the counters now; `wallS` overrides the phase's wall time (e.g. up to the last delivery). */
  read(wallS?: number): {
    server_cpu_s: number;
    server_sys_pct: number;
    server_cpu_pct: number;
    gen_cpu_pct: number;
    cpu0_other_pct: number;
  } {
    const srv = this.target.cpuS() - this.srv0;
    const sys = this.target.sysS() - this.sys0;
    const gen = this.genCpu() - this.gen0;
    const busy = cpuBusySeconds() - this.busy0;
    const secs = wallS ?? (nowUs() - this.t0) / 1e6;
    const pct = (x: number) => (secs > 0 ? Math.round((x / secs) * 100) : 0);
    return {
      server_cpu_s: round(srv, 2),
      // The share of the server's CPU time spent in the kernel, mostly its socket writes.
      server_sys_pct: srv > 0 ? Math.round((sys / srv) * 100) : 0,
      server_cpu_pct: pct(srv),
      gen_cpu_pct: pct(gen),
      cpu0_other_pct: Math.max(0, pct(busy - srv)),
    };
  }
}

/** How many generator processes N subscribers need. */
export const gensFor = (ctx: Ctx, n: number): number => Math.max(1, Math.ceil(n / ctx.perGen));

export const median = (xs: number[]): number => {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)] as number;
};

export const round = (x: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
};

export { nowUs, sleep };
