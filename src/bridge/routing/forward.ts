/**
 * mqtt.forward_api: the HTTP and gRPC API act on the whole cluster. A Publish or Broadcast is
 * delivered here at once and sent over the broker to the other instances, carrying this instance's
 * id as its origin, so that the echo the broker brings back is not delivered here a second time.
 * A Publish whose user is here goes no further: one session per uid across the cluster.
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Broker } from "../../broker/broker.ts";
import type { Hub } from "../../hub/hub.ts";
import type { Dump } from "../../hub/session.ts";
import type { Revocation } from "../../auth/revocations.ts";
import type { Delivery } from "../../protocol/commands.ts";
import type { DisconnectAnswer } from "../../protocol/operator.ts";
import { encodeForwarded, type EventPosition } from "../wire/event.ts";
import type { Qos } from "../wire/qos.ts";

/** What forwarding needs of the connection to the broker (link.ts). */
export interface ForwardWire {
  readonly connected: boolean;
  readonly unsentBytes: number;
  publish(topic: string, payload: string, qos: Qos, done?: (err?: Error) => void): void;
}

export interface ForwardOptions {
  hub: Pick<Hub, "deliver">;
  wire: ForwardWire;
  /** Where an Event for this delivery goes: its routed topic (mqtt.routing: on), else the events topic. */
  topicOf: (d: Delivery) => string;
  /** This instance's id: the `origin` of what it forwards. */
  server: string;
  qos: Qos;
  /** The cluster's sessions (gather.ts), or this instance's alone. */
  dump: (withTransport: boolean) => Dump | Promise<Dump>;
  /** A Disconnect on every live instance (disconnect.ts). */
  disconnect: (uid: string, reason: string, revoked?: Revocation) => DisconnectAnswer | Promise<DisconnectAnswer>;
  /** By outcome: sent, local (the user is here), not_connected, backlog, failed. */
  forwarded: Counter;
}

/**
 * Past this many bytes the socket has not written, a forwarded Event is dropped and counted:
 * a broker that reads slowly must not make the API hold memory without bound (at most once).
 */
const BACKLOG_BYTES = 8 << 20;

/**
 * The cluster's half of the broker contract (broker/broker.ts) over MQTT: a publication is
 * delivered here, then sent on to the instances that need it.
 */
export class ClusterBroker implements Broker {
  /** One series per outcome, looked up once: the API's publishes go through here. */
  private readonly counted: Record<"sent" | "local" | "not_connected" | "backlog", { inc(): void }>;
  private readonly failed: (err?: Error) => void;

  constructor(private readonly options: ForwardOptions) {
    const { forwarded } = options;
    this.counted = {
      sent: forwarded.with({ outcome: "sent" }),
      local: forwarded.with({ outcome: "local" }),
      not_connected: forwarded.with({ outcome: "not_connected" }),
      backlog: forwarded.with({ outcome: "backlog" }),
    };
    const failedCounter = forwarded.with({ outcome: "failed" });
    this.failed = (err) => {
      if (err) failedCounter.inc();
    };
  }

  publish(d: Delivery): number {
    const here = this.options.hub.deliver(d);
    this.forward(d, d.kind === "publish" && here > 0);
    return here;
  }

  /**
   * The sending half: d goes to the other instances, unless it is a Publish whose user is here
   * (`userHere`). `at`: its position in the shared log (history.store: redis), which they deliver
   * it at.
   */
  forward(d: Delivery, userHere: boolean, at?: EventPosition): void {
    const { wire, qos } = this.options;
    if (userHere) {
      this.counted.local.inc();
      return;
    }
    if (!wire.connected) this.counted.not_connected.inc();
    else if (wire.unsentBytes > BACKLOG_BYTES) this.counted.backlog.inc();
    else {
      // QoS 0: no callback, which mqtt.js would hold per packet while the socket is busy.
      wire.publish(
        this.options.topicOf(d),
        encodeForwarded(d, this.options.server, at),
        qos,
        qos ? this.failed : undefined,
      );
      this.counted.sent.inc();
    }
  }

  dump(withTransport: boolean): Dump | Promise<Dump> {
    return this.options.dump(withTransport);
  }

  disconnect(uid: string, reason: string, revoked?: Revocation): DisconnectAnswer | Promise<DisconnectAnswer> {
    return this.options.disconnect(uid, reason, revoked);
  }
}
