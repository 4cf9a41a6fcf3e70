/**
 * The broker contract: where a publication goes once a way in took it, and where the cluster's
 * sessions are asked for. Modelled on Centrifuge's broker.go: every publication, whatever its way
 * in (HTTP, gRPC, an MQTT Event, the CLI), is handed to one Broker, and every delivery to this
 * instance's sessions, whatever its origin (this instance, another one over the broker), goes
 * through one handler, Hub.deliver.
 *
 * Its three halves:
 * - delivery: `publish` (below). Implementations: LocalBroker (one process, no cluster) and the
 *   MQTT bridge's ClusterBroker (bridge/routing/forward.ts, with mqtt.forward_api: delivered here, then sent on to
 *   the other instances, whose bridges hand it to their own Hub.deliver).
 * - history: a stream's numbering and kept messages. Today the hub's own (hub/history.ts, in
 *   memory, per instance); a shared log (Redis Streams) is another implementation of it.
 * - operators' controls: `disconnect` closes a uid's session 4410 here (LocalBroker) or on every
 *   live instance (ClusterBroker, which asks them over the broker and sums their answers).
 * - membership: which users and rooms have sessions here. It reaches a cluster broker as the hub's
 *   activity (Hub.onActivity: ONLINE/OFFLINE, ENTER_ROOM/LEAVE_ROOM), from which the bridge
 *   subscribes to the routed topics this instance needs (bridge/routing/activity-routes.ts), as
 *   Centrifuge's Subscribe and Unsubscribe do.
 */
import type { Dump } from "../hub/session.ts";
import type { Delivery } from "../protocol/commands.ts";
import { Close } from "../protocol/codes.ts";
import type { DisconnectAnswer } from "../protocol/operator.ts";
import type { Revocation } from "../auth/revocations.ts";

export interface Broker {
  /**
   * Delivers d wherever it must go: this instance's sessions and, in a cluster, the others'.
   * Answers the recipients on this instance; a promise of them when the publication is first
   * appended to the shared log (history.store: redis), which rejects with HistoryUnavailable
   * when the log cannot take it (then nothing was delivered).
   */
  publish(d: Delivery): number | Promise<number>;
  /**
   * A Batch's deliveries, in order, where the shared log takes them in one round trip per shard.
   * Answers per delivery whether it was delivered (false: its shard could not take it); rejects
   * with HistoryUnavailable when none could be. Absent: each goes through publish.
   */
  publishMany?(ds: readonly Delivery[]): Promise<boolean[]>;
  /** DumpSession: every session this broker reaches (this instance's, or the cluster's). */
  dump(withTransport: boolean): Dump | Promise<Dump>;
  /**
   * Closes uid's session with 4410 and reason wherever this broker reaches. `revoked`: the
   * revocation the command made here, which a cluster broker hands to every instance with the
   * request, so that each refuses the old token before it closes the session (a client that
   * reconnects at once must not beat the retained revocation to an instance).
   */
  disconnect(uid: string, reason: string, revoked?: Revocation): DisconnectAnswer | Promise<DisconnectAnswer>;
}

/** What a broker delivers through on this instance: the one handler of every publication here. */
export interface LocalDelivery {
  deliver(d: Delivery): number;
  dump(withTransport: boolean): Dump;
  kick(uid: string, code: number, reason: string): boolean;
}

/** One process, no cluster: a publication is delivered here and nowhere else. */
export class LocalBroker implements Broker {
  constructor(private readonly hub: LocalDelivery) {}

  publish(d: Delivery): number {
    return this.hub.deliver(d);
  }

  dump(withTransport: boolean): Dump {
    return this.hub.dump(withTransport);
  }

  disconnect(uid: string, reason: string): DisconnectAnswer {
    return { disconnected: this.hub.kick(uid, Close.Disconnected, reason) ? 1 : 0 };
  }
}
