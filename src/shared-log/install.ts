/**
 * The shared log as a part of an instance (history.store: redis): the connections to Redis, each
 * held stream's order, the ingress of broker Events and the broker the API publishes through.
 * Its readiness is the log's (/readyz names an unreachable shard). With history.store: memory
 * none of this exists and the hub numbers and keeps its own streams, as before.
 */
import { HeldTopics } from "../gateway/holding.ts";
import type { Config } from "../config/schema.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Part } from "../part.ts";
import type { Broker } from "../broker/broker.ts";
import type { RevocationTable } from "../auth/revocations.ts";
import { type Forwarder, LogBroker } from "./log-broker.ts";
import { LogIngress } from "./log-ingress.ts";
import { LogRecovery } from "./log-recovery.ts";
import type { RedisLog } from "./redis-log.ts";
import { RedisRevocations } from "./redis-revocations.ts";
import { redisStoreSettings } from "./store-settings.ts";
import { StreamOrder } from "./stream-order.ts";

export interface HistoryStorePart extends Part {
  readonly log: RedisLog;
  readonly order: StreamOrder;
  /** Where broker Events go (the bridge's EventsIn). */
  readonly ingress: LogIngress;
  /** A session's recover and first positions, read from the log. */
  readonly recovery: LogRecovery;
  /** Revocations kept in Redis, read into the core's table before ready. */
  readonly revocations: RedisRevocations;
  /** The API's broker: with forwarder, the cluster's (mqtt.forward_api); `inner` answers dumps and disconnects. */
  broker(forwarder: Forwarder | undefined, inner: Pick<Broker, "dump" | "disconnect">): LogBroker;
}

/** How long a start waits for Redis before it goes on not ready (it connects in the background). */
const CONNECT_WAIT_MS = 2000;
const PING_MS = 1000;

/** What the shared log is installed with, of the instance's core (instance/core.ts). */
export interface LogCore {
  config: Config;
  hub: Hub;
  gateway: Gateway;
  registry: Registry;
  log: Logger;
  revocations: RevocationTable;
}

export async function installHistoryStore(core: LogCore): Promise<HistoryStorePart | undefined> {
  const settings = redisStoreSettings(core.config);
  if (!settings) return undefined;
  // Loaded only now, with history.store: redis: @redis/client is not in memory otherwise.
  const { RedisLog } = await import("./redis-log.ts");
  const { hub, registry, log: logger } = core;
  const seconds = registry
    .histogram("comet_history_store_seconds", "Round trips to the shared history log (Redis), in seconds", [
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
    ])
    .with({});
  const errors = registry.counter(
    "comet_history_store_errors_total",
    "Round trips to the shared history log that failed (unreachable, too slow, refused)",
  );
  const log = new RedisLog({
    ...settings,
    log: logger,
    onCommand: (s, ok) => {
      seconds.observe(s);
      if (!ok) errors.inc();
    },
  });
  const order = new StreamOrder({
    deliver: (d, seq, epoch) => hub.deliverAt(d, seq, epoch),
    log,
    fillWaitMs: settings.fillWait,
    counted: orderCounters(core),
  });
  registry.gauge("comet_history_ordered_streams", "Streams held here, put in seq order before delivery", () => order.size);
  if (!(await log.ready(CONNECT_WAIT_MS))) {
    logger.warn("history store not reachable yet: not ready until it is", { reason: log.notReady() });
  }
  // Every stream with a holder here is ordered: the world always, a user's while a session of it
  // is here, a room's while it has a member here.
  order.hold("w");
  const unlisten = hub.onActivity(
    (a) => {
      if (a.type === "ONLINE") order.hold(`u:${a.uid}`);
      else if (a.type === "OFFLINE") order.release(`u:${a.uid}`);
      else if (a.type === "ENTER_ROOM") order.hold(`r:${a.rid}`);
      else if (a.type === "LEAVE_ROOM") order.release(`r:${a.rid}`);
    },
    { heard: false },
  );
  const dropped = registry.counter("comet_events_dropped_total", "Broker Events dropped, by reason");
  dropped.inc({ reason: "history_store" }, 0);
  const ingress = new LogIngress({ log, order, hub, dropped: dropped.with({ reason: "history_store" }), logger });
  // A session that starts or recovers from the log holds its live deliveries until then.
  const held = new HeldTopics();
  hub.addFanout(held);
  const recovery = new LogRecovery({ log, order, held });
  core.gateway.startFromLog(recovery);
  // A Redis that hangs keeps its connections: a PING a second finds it out for /readyz.
  const pings = setInterval(() => void log.ping(), PING_MS);
  const revocations = new RedisRevocations(log, settings.prefix, core.revocations, logger);
  logger.info("history store: redis", { shards: settings.urls.length, prefix: settings.prefix });
  return {
    log,
    order,
    ingress,
    recovery,
    revocations,
    broker: (forwarder, inner) => new LogBroker({ log, order, hub, forwarder, inner }),
    ready: () => log.notReady() ?? revocations.notReady(),
    async close() {
      clearInterval(pings);
      unlisten();
      await revocations.close();
      await log.close();
    },
  };
}

function orderCounters(core: LogCore) {
  const holes = core.registry.counter(
    "comet_history_holes_total",
    "Seqs missing from what reached this instance, by outcome: filled (read from the log in time) or jumped (delivered past, as a gap)",
  );
  const filled = holes.with({ outcome: "filled" });
  const jumped = holes.with({ outcome: "jumped" });
  filled.inc(0);
  jumped.inc(0);
  const late = core.registry.counter(
    "comet_history_late_total",
    "Messages that reached this instance after their stream had gone past them (a duplicate, or a hole already jumped): dropped",
  );
  return { filled: (n: number) => filled.inc(n), jumped: (n: number) => jumped.inc(n), late: () => late.inc() };
}
