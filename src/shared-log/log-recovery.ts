/**
 * A session's recover and first positions with the shared log (history.store: redis): read from
 * the log, on whatever instance the client reached. The Part 2 rules stand: for each stream named,
 * all that followed the client's position, or nothing (false); never a part. A log that does not
 * answer recovers nothing (false: the client SYNCs) and the session stays. The connection holds
 * the session's live deliveries meanwhile (gateway/holding.ts).
 */
import type { HeldTopics, LogStart, Replay, Replayed } from "../gateway/holding.ts";
import { Downlink } from "../protocol/downlink.ts";
import type { Position, Recover } from "../protocol/frames.ts";
import type { HistoryLog } from "../broker/history-log.ts";
import type { StreamOrder } from "./stream-order.ts";
import { logName } from "./streams.ts";

export interface LogRecoveryOptions {
  log: Pick<HistoryLog, "since" | "top">;
  order: Pick<StreamOrder, "settle">;
  held: HeldTopics;
}

type Kind = "u" | "r" | "w";
const KINDS: readonly Kind[] = ["u", "r", "w"];

/** What frames call a stream: "u" for the session's user, "r:<rid>", "w". */
const frameName = (kind: Kind, rid: string): string => (kind === "r" ? `r:${rid}` : kind);

/** A position no stream has: a reconnect from it recovers nothing, and says so. */
const UNKNOWN: Position = { epoch: "", seq: 0 };

export class LogRecovery implements LogStart {
  readonly held: HeldTopics;

  constructor(private readonly opts: LogRecoveryOptions) {
    this.held = opts.held;
  }

  /** The log's tops (a stream the log lacks is made, so that its epoch holds from now). */
  async heads(uid: string, rid: string): Promise<Recover> {
    const kinds = rid === "" ? (["u", "w"] as const) : KINDS;
    const tops = await Promise.all(
      kinds.map((k) => this.opts.log.top(logName(k, uid, rid)).catch((): Position => UNKNOWN)),
    );
    const out: Recover = {};
    kinds.forEach((k, i) => {
      out[k] = tops[i] as Position;
    });
    return out;
  }

  async recover(uid: string, rid: string, r: Recover): Promise<Replay> {
    const named = KINDS.filter((k) => r[k] !== undefined);
    const read = await Promise.all(
      named.map((k) => {
        if (k === "r" && rid === "") return null;
        return this.opts.log.since(logName(k, uid, rid), r[k] as Position).catch(() => null);
      }),
    );
    const frames: Downlink[] = [];
    const report: Record<string, boolean> = {};
    const replayed = new Map<string, Position>();
    named.forEach((k, i) => {
      const entries = read[i];
      report[k] = entries !== null && entries !== undefined;
      if (!entries) return;
      const from = r[k] as Position;
      const name = frameName(k, rid);
      for (const e of entries) frames.push(Downlink.pushAt(e.evt, name, e.seq, from.epoch));
      replayed.set(name, { epoch: from.epoch, seq: entries.length > 0 ? (entries.at(-1) as { seq: number }).seq : from.seq });
    });
    return { frames, report: Downlink.recoveredReport(report), replayed };
  }

  async settle(uid: string, rid: string, replayed: Replayed): Promise<void> {
    const waits: Array<Promise<void>> = [];
    for (const [name, at] of replayed) {
      const kind = name === "u" ? "u" : name === "w" ? "w" : "r";
      waits.push(this.opts.order.settle(logName(kind, uid, rid), at));
    }
    await Promise.all(waits);
  }
}
