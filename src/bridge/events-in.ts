/**
 * Events from the broker, delivered to this instance's sessions. Payloads come from anyone who can
 * publish to the broker: one that breaks the rules is counted and warned about (rate-limited),
 * never thrown.
 */
import type { Counter } from "../http/metrics.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { CommandLimits } from "../protocol/commands.ts";
import { parseEvent } from "./event.ts";
import { RateLimitedWarn } from "./ratelog.ts";

export interface EventsInOptions {
  hub: Pick<Hub, "deliver">;
  topic: string;
  /** The same limits as the HTTP API's body and evt limits. */
  limits: CommandLimits;
  /** By outcome: delivered, no_recipient, own (forwarded by this instance), invalid, too_large. */
  received: Counter;
  /** This instance's id: an Event it forwarded itself comes back with it as its origin. */
  server: string;
  log: Logger;
}

export class EventsIn {
  private readonly dropped: RateLimitedWarn;

  constructor(private readonly options: EventsInOptions) {
    this.dropped = new RateLimitedWarn(options.log, "mqtt: event dropped");
  }

  receive(payload: Buffer): void {
    const { hub, topic, limits, received } = this.options;
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
    const n = hub.deliver(r.delivery);
    received.inc({ outcome: n > 0 ? "delivered" : "no_recipient" });
  }
}
