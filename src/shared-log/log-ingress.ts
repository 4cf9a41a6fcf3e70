/**
 * Broker Events with the shared log (history.store: redis). An Event another instance forwarded
 * carries its position: it is delivered there, in its stream's order, and never appended again.
 * A backend's Event has none, and reaches every instance that reads its topic (the events topic
 * reaches all; a room's routed topic each instance with a member): each appends it with the
 * Event's digest as its mark, and the log appends it once within ONCE_WINDOW_MS and gives every
 * instance that same position (RedisLog.appendOnce). The limits of that rule are in
 * docs/operations.md: two identical Events within the window are one; an instance that reads an
 * Event later than the window appends it again.
 */
import { createHash } from "node:crypto";
import type { EventPosition } from "../bridge/wire/event.ts";
import type { EventSink } from "../bridge/routing/events-in.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Delivery } from "../protocol/commands.ts";
import { RateLimitedWarn } from "../util/ratelog.ts";
import type { HistoryLog } from "../broker/history-log.ts";
import type { StreamOrder } from "./stream-order.ts";
import { streamOf } from "./streams.ts";

/** How long one Event's digest marks it as appended: far above the spread of one broker's deliveries. */
export const ONCE_WINDOW_MS = 10_000;

export interface LogIngressOptions {
  log: Pick<HistoryLog, "appendOnce">;
  order: Pick<StreamOrder, "receive">;
  hub: Pick<Hub, "reach">;
  /** comet_events_dropped_total{reason="history_store"}. */
  dropped: { inc(): void };
  logger: Logger;
}

export class LogIngress implements EventSink {
  private readonly warn: RateLimitedWarn;

  constructor(private readonly opts: LogIngressOptions) {
    this.warn = new RateLimitedWarn(opts.logger, "mqtt: event dropped, the history store cannot take it");
  }

  deliver(d: Delivery, at?: EventPosition): number | Promise<number | undefined> {
    const stream = streamOf(d);
    if (at) return this.land(stream, d, at);
    return this.opts.log.appendOnce(stream, d.evt, digest(d.evt), ONCE_WINDOW_MS).then(
      (p) => this.land(stream, d, p),
      (err: unknown) => {
        this.opts.dropped.inc();
        this.warn.warn({ stream: stream.slice(0, 64), error: String((err as Error)?.message ?? err) });
        return undefined;
      },
    );
  }

  private land(stream: string, d: Delivery, at: EventPosition): number {
    const here = this.opts.hub.reach(d);
    this.opts.order.receive(stream, at.epoch, at.seq, d);
    return here;
  }
}

/** An Event's mark: its evt's digest (the stream is in the mark's key). */
function digest(evt: string): string {
  return createHash("sha1").update(evt).digest("base64url");
}
