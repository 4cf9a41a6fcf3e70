/**
 * The broker with the shared log (history.store: redis): a publication is first appended to its
 * stream's log, which gives it its seq; then it is delivered here at that position (through the
 * stream's order, so that it takes its turn among what other instances appended), then, with
 * mqtt.forward_api, sent on to the other instances carrying its position, so that they deliver it
 * at the same place and never append it again. A log that cannot take it fails the publication
 * (HistoryUnavailable: the API answers 503) and nothing is delivered.
 */
import type { Revocation } from "../auth/revocations.ts";
import type { Hub } from "../hub/hub.ts";
import type { Dump } from "../hub/session.ts";
import type { Delivery } from "../protocol/commands.ts";
import type { Broker } from "../broker/broker.ts";
import { type HistoryLog, HistoryUnavailable, type Position } from "../broker/history-log.ts";
import type { StreamOrder } from "./stream-order.ts";
import { streamOf } from "./streams.ts";

/** The sending half of the cluster's broker (bridge/routing/forward.ts). */
export interface Forwarder {
  forward(d: Delivery, userHere: boolean, at: Position): void;
}

export interface LogBrokerOptions {
  log: Pick<HistoryLog, "append" | "appendMany">;
  order: Pick<StreamOrder, "receive">;
  hub: Pick<Hub, "reach">;
  /** With mqtt.forward_api; else the API reaches this instance's sessions only. */
  forwarder: Forwarder | undefined;
  /** The broker without the log (this instance's, or the cluster's): it answers DumpSession and Disconnect. */
  inner: Pick<Broker, "dump" | "disconnect">;
}

export class LogBroker implements Broker {
  constructor(private readonly opts: LogBrokerOptions) {}

  async publish(d: Delivery): Promise<number> {
    const at = await this.opts.log.append(streamOf(d), d.evt);
    return this.land(d, at);
  }

  /** In order: every delivery appended (one round trip per shard), then each delivered. */
  async publishMany(ds: readonly Delivery[]): Promise<boolean[]> {
    let at: ReadonlyArray<Position | undefined>;
    try {
      at = await this.opts.log.appendMany(ds.map((d) => ({ stream: streamOf(d), evt: d.evt })));
    } catch (err) {
      // A shard that failed fails its part only: what the others took is in the log, so delivered.
      if (!(err instanceof HistoryUnavailable) || !err.landed?.some(Boolean)) throw err;
      at = err.landed;
    }
    return ds.map((d, i) => {
      const p = at[i];
      if (p) this.land(d, p);
      return p !== undefined;
    });
  }

  dump(withTransport: boolean): Dump | Promise<Dump> {
    return this.opts.inner.dump(withTransport);
  }

  disconnect(uid: string, reason: string, revoked?: Revocation): ReturnType<Broker["disconnect"]> {
    return this.opts.inner.disconnect(uid, reason, revoked);
  }

  private land(d: Delivery, at: Position): number {
    const { hub, order, forwarder } = this.opts;
    const here = hub.reach(d);
    order.receive(streamOf(d), at.epoch, at.seq, d);
    // One session per uid across the cluster: a Publish whose user is here goes no further.
    forwarder?.forward(d, d.kind === "publish" && here > 0, at);
    return here;
  }
}
