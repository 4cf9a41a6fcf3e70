/**
 * What a pool's clients received (wsclients.ts counts each frame in these fields as it reads it):
 * the latency histogram, the counts, per-seq deliveries, close codes and HB probes; reset between
 * measurements and reported as RecvStats.
 */
import { Hist } from "./hist.ts";
import type { RecvStats } from "./wsreports.ts";

export class Received {
  hist = new Hist();
  received = 0;
  bad = 0;
  firstUs = 0;
  lastUs = 0;
  seqCount = new Uint32Array(0);
  seqMax = new Float64Array(0);
  closes = new Map<number, number>();
  hbProbes = 0;
  /** WebSocket bytes received (frames, headers included), after the upgrade response. */
  wireBytes = 0;

  /** Starts tracking deliveries afresh; seqs below `seqs` get per-broadcast counts. */
  resetStats(seqs: number): void {
    this.hist.reset();
    this.received = 0;
    this.bad = 0;
    this.firstUs = 0;
    this.lastUs = 0;
    this.seqCount = new Uint32Array(seqs);
    this.seqMax = new Float64Array(seqs);
    this.closes.clear();
    this.hbProbes = 0;
    this.wireBytes = 0;
  }

  stats(): RecvStats {
    return {
      received: this.received,
      bad: this.bad,
      first_us: this.firstUs,
      last_us: this.lastUs,
      hist: this.hist.toSparse(),
      seq_count: [...this.seqCount],
      seq_max_us: [...this.seqMax],
      closes: Object.fromEntries(this.closes),
      hb_probes: this.hbProbes,
      wire_bytes: this.wireBytes,
    };
  }
}
