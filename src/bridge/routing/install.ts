/**
 * The bridge's routing parts: Events in (the events topic, and with mqtt.routing the routed
 * topics this instance's sessions need, subscribed as users and rooms come and go), and the API's
 * reach (a cluster DumpSession every instance answers; with mqtt.forward_api, deliveries sent on).
 */
import { type Broker, LocalBroker } from "../../broker/broker.ts";
import type { Delivery } from "../../protocol/commands.ts";
import type { BridgeContext, BridgePiece } from "../context.ts";
import { routeActivity } from "./activity-routes.ts";
import { EventsIn } from "./events-in.ts";
import { ClusterDisconnect, DISCONNECT_REQUESTS, disconnectAnswers } from "./disconnect.ts";
import { ClusterBroker } from "./forward.ts";
import { DUMP_REQUESTS, DumpGather, GATHER_TIMEOUT_MS, replyTopic } from "./gather.ts";
import { Subscriptions } from "./subscriptions.ts";
import { RoutedTopics } from "./topics.ts";

export interface EventRoutes extends BridgePiece {
  /** The routed topics (mqtt.routing: on), else undefined: everything goes to the events topic. */
  readonly routed: RoutedTopics | undefined;
}

export function installEvents(ctx: BridgeContext): EventRoutes {
  const { settings, hub, counters, link, log, id } = ctx;
  const { eventsTopic } = settings;
  const eventsIn = new EventsIn({
    sink: ctx.ingress,
    topic: eventsTopic,
    limits: settings.limits,
    received: counters.eventsIn,
    server: id,
    log,
  });
  // The legacy events topic stays: backends that publish there reach every instance as before.
  link.read(eventsTopic, (payload, retained) => eventsIn.receive(payload, retained));
  if (!settings.routing) return { routed: undefined, close() {} };
  const routed = new RoutedTopics(eventsTopic);
  link.read(routed.world, (payload, retained) => eventsIn.receive(payload, retained, routed.world));
  // What matches neither a topic nor a filter is a routed topic's Event (subscriptions.ts).
  link.readOther((topic, payload, retained) => eventsIn.receive(payload, retained, topic));
  const subs = new Subscriptions(link, {
    qos: settings.qos,
    packets: counters.routePackets,
    refused: counters.routesRefused,
    log,
  });
  link.whenConnected(() => subs.connected());
  const { registry } = ctx;
  registry.gauge(
    "comet_bridge_routes",
    "Routed topics subscribed, or lingering a second before they go",
    () => subs.size,
  );
  registry.gauge(
    "comet_bridge_routes_pending",
    "Routed topics held whose subscription the broker has not acknowledged yet",
    () => subs.pending,
  );
  const unlisten = hub.onActivity(routeActivity(routed, subs));
  return {
    routed,
    close() {
      unlisten();
      subs.close();
    },
  };
}

/**
 * Every live instance answers a cluster DumpSession and Disconnect, whatever its own
 * mqtt.forward_api: those with it ask, and wait for everyone live. With forward_api the API's
 * broker is the cluster's.
 */
export function installApiReach(
  ctx: BridgeContext,
  routed: RoutedTopics | undefined,
): { broker: Broker; forwarder: ClusterBroker | undefined } {
  const { settings, hub, link, log, id } = ctx;
  const gather = new DumpGather({
    hub,
    wire: link,
    servers: ctx.servers,
    server: id,
    qos: settings.qos,
    maxPartBytes: Math.max(1024, settings.limits.maxBodyBytes >> 1),
    timeoutMs: GATHER_TIMEOUT_MS,
    clusterKey: settings.clusterKey,
    received: ctx.counters.dumpsIn,
    unsigned: ctx.counters.activityIn,
    log,
  });
  link.readFilter(DUMP_REQUESTS, (_topic, payload) => gather.onRequest(payload));
  const disconnect = new ClusterDisconnect({
    hub,
    wire: link,
    servers: ctx.servers,
    server: id,
    qos: settings.qos,
    timeoutMs: GATHER_TIMEOUT_MS,
    revocations: ctx.revocations,
    clusterKey: settings.clusterKey,
    received: ctx.counters.disconnectsIn,
    unsigned: ctx.counters.activityIn,
    log,
  });
  link.readFilter(DISCONNECT_REQUESTS, (_topic, payload) => disconnect.onRequest(payload));
  if (!settings.forwardApi) return { broker: new LocalBroker(hub), forwarder: undefined };
  link.read(replyTopic(id), (payload) => gather.onReply(payload));
  link.read(disconnectAnswers(id), (payload) => disconnect.onReply(payload));
  const forwarder = new ClusterBroker({
    hub,
    wire: link,
    topicOf: routed ? (d: Delivery) => routed.of(d) : () => settings.eventsTopic,
    server: id,
    qos: settings.qos,
    dump: (withTransport) => gather.gather(withTransport),
    disconnect: (uid, reason, revoked) => disconnect.disconnect(uid, reason, revoked),
    forwarded: ctx.counters.forwarded,
  });
  return { broker: forwarder, forwarder };
}
