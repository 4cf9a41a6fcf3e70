/**
 * What a generator's subscribers (wsclients.ts) report back to the runner over lib/rpc.ts: what they
 * received, and how a round of connects went.
 */
import type { SparseHist } from "./hist.ts";

export interface RecvStats {
  received: number;
  bad: number;
  first_us: number;
  last_us: number;
  hist: SparseHist;
  /** Per seq (when tracked): deliveries and the latest delivery's latency in µs. */
  seq_count: number[];
  seq_max_us: number[];
  closes: Record<string, number>;
  hb_probes: number;
  wire_bytes: number;
}

export interface ConnectResult {
  upgraded: number;
  failed: number;
  retries: number;
  t0_us: number;
  t1_us: number;
  statuses: Record<string, number>;
  /** The longest dial-to-upgrade of the round, in ms (a generator's round; not summed). */
  slowest_ms?: number;
}
