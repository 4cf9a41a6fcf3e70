/**
 * Events from the broker, delivered to this instance's sessions. Payloads come from anyone who can
 * publish to the broker: one that breaks the rules is counted and warned about (rate-limited),
 * never thrown.
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Logger } from "../../log.ts";
import type { CommandLimits, Delivery } from "../../protocol/commands.ts";
import { type EventPosition, parseEvent } from "../wire/event.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";

/**
 * Where an Event goes once read: the hub (history.store: memory numbers it there), or the shared
 * log's ingress (src/shared-log/log-ingress.ts), which appends it first unless it carries its position.
 */
export interface EventSink {
  /**
   * Answers the recipients here, or a promise of them; a promise of undefined when the sink
   * dropped the Event (and counted it).
   */
  deliver(d: Delivery, at?: EventPosition, payload?: Uint8Array): number | Promise<number | undefined>;
}

export interface EventsInOptions {
  sink: EventSink;
  topic: string;
  /** The same limits as the HTTP API's body and evt limits. */
  limits: CommandLimits;
  /** By outcome: delivered, no_recipient, own (forwarded by this instance), invalid, too_large, retained. */
  received: Counter;
  /** This instance's id: an Event it forwarded itself comes back with it as its origin. */
  server: string;
  log: Logger;
}

export class EventsIn {
  private readonly dropped: RateLimitedWarn;
  private readonly stale: RateLimitedWarn;
  // Every event counts once: the two hot series are looked up once, not per event.
  private readonly delivered: { inc(): void };
  private readonly noRecipient: { inc(): void };

  constructor(private readonly options: EventsInOptions) {
    this.dropped = new RateLimitedWarn(options.log, "mqtt: event dropped");
    this.stale = new RateLimitedWarn(options.log, "mqtt: retained event dropped");
    this.delivered = options.received.with({ outcome: "delivered" });
    this.noRecipient = options.received.with({ outcome: "no_recipient" });
  }

  /**
   * `retained`: the broker replayed it from its store on a (re)subscribe. An Event is a command
   * for now; replayed, it would push the same thing again at every restart and reconnection.
   * `topic`: where it came (a routed topic, with mqtt.routing), for the log.
   */
  receive(payload: Buffer, retained: boolean, topic: string = this.options.topic): void {
    const { sink, limits, received } = this.options;
    if (retained) {
      received.inc({ outcome: "retained" });
      this.stale.warn({ topic, reason: "retained: publish Events without the retain flag", bytes: payload.byteLength });
      return;
    }
    const r = parseEvent(payload, limits);
    if (!r.ok) {
      received.inc({ outcome: r.outcome });
      this.dropped.warn({ topic, reason: r.reason, bytes: payload.byteLength });
      return;
    }
    if (r.origin === this.options.server) {
      // Delivered here when the API took it (mqtt.forward_api): once is enough.
      received.inc({ outcome: "own" });
      return;
    }
    const here = sink.deliver(r.delivery, r.at, payload);
    if (typeof here === "number") this.count(here);
    else here.then((n) => n !== undefined && this.count(n));
  }

  private count(here: number): void {
    if (here > 0) this.delivered.inc();
    else this.noRecipient.inc();
  }
}
