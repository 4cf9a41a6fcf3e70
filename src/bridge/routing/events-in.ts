/**
 * Events from the broker, delivered to this instance's sessions. Payloads come from anyone who can
 * publish to the broker: one that breaks the rules is counted and warned about (rate-limited),
 * never thrown.
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Hub } from "../../hub/hub.ts";
import type { Logger } from "../../log.ts";
import type { CommandLimits } from "../../protocol/commands.ts";
import { parseEvent } from "../wire/event.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";

export interface EventsInOptions {
  hub: Pick<Hub, "deliver">;
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
    const { hub, limits, received } = this.options;
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
    if (hub.deliver(r.delivery) > 0) this.delivered.inc();
    else this.noRecipient.inc();
  }
}
