/**
 * The bridge's cluster parts: the live instances (a retained status per instance, announced again
 * to newcomers), and the user activity that crosses the broker: this instance's sent through an
 * outbox, everyone's read back for one session per uid (activity-in.ts, cluster-rule.ts).
 */
import type { Logger } from "../../log.ts";
import type { BridgeContext, BridgePiece } from "../context.ts";
import type { BridgeCounters } from "../counters.ts";
import type { BridgeSettings } from "../settings.ts";
import { Outbox } from "../wire/outbox.ts";
import type { RemoteActivity } from "../wire/event.ts";
import { ActivityIn } from "./activity-in.ts";
import { SERVERS_FILTER, ServerRegistry } from "./servers.ts";

export function makeServerRegistry(
  id: string,
  settings: BridgeSettings,
  counters: BridgeCounters,
  log: Logger,
): ServerRegistry {
  return new ServerRegistry({
    self: id,
    clusterKey: settings.clusterKey,
    received: counters.statusIn,
    unsigned: counters.activityIn,
    log,
  });
}

/** Reads comet/servers/+, and publishes this instance's status on each connection and to newcomers. */
export function installServers(ctx: BridgeContext): BridgePiece {
  const { link, servers } = ctx;
  let announceTimer: ReturnType<typeof setTimeout> | undefined;
  // Who joins hears this instance again: a broker that keeps retained messages from wildcard
  // subscriptions (RabbitMQ) would otherwise leave it unknown to the newcomer.
  servers.onChange((c) => {
    if (c.change !== "joined" || announceTimer) return;
    announceTimer = setTimeout(() => {
      announceTimer = undefined;
      link.publishRetained(servers.online());
    }, 50);
  });
  link.readFilter(SERVERS_FILTER, (topic, payload) => servers.receive(topic, payload));
  link.whenConnected(() => {
    link.publishRetained(servers.online());
    if (link.generation > 1) servers.resync();
  });
  ctx.registry.gauge(
    "comet_cluster_servers",
    "Live instances on the broker, this one included",
    () => servers.live().length,
  );
  return {
    close() {
      if (announceTimer) clearTimeout(announceTimer);
    },
  };
}

/** Activity out (an outbox) and read back; `onRemote` gets the other instances' (the presence view). */
export function installActivity(
  ctx: BridgeContext,
  onRemote: ((a: RemoteActivity) => void) | undefined,
): BridgePiece & { readonly outbox: Outbox } {
  const { settings, hub, counters, link, log, id } = ctx;
  const activityIn = new ActivityIn({
    hub,
    topic: settings.activityTopic,
    server: id,
    received: counters.activityIn,
    clusterKey: settings.clusterKey,
    onRemote,
    log,
  });
  link.read(settings.activityTopic, (payload) => activityIn.receive(payload));
  const outbox = new Outbox(link, {
    topic: settings.activityTopic,
    qos: settings.qos,
    capacity: settings.queue,
    types: settings.activity,
    server: id,
    clusterKey: settings.clusterKey,
    out: counters.activityOut,
    dropped: counters.dropped,
  });
  link.whenConnected(() => outbox.flush());
  ctx.registry.gauge("comet_bridge_queue_length", "Outgoing activity waiting for the broker", () => outbox.size);
  const unlisten = hub.onActivity((a) => outbox.add(a));
  return {
    outbox,
    close() {
      unlisten();
      outbox.close();
    },
  };
}
