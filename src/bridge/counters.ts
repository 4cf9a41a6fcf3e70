/** The bridge's instruments, registered once when it starts; each part takes the ones it bumps. */
import type { Registry } from "../metrics/registry.ts";

export type BridgeCounters = ReturnType<typeof bridgeCounters>;

export function bridgeCounters(registry: Registry) {
  return {
    eventsIn: registry.counter("comet_bridge_events_in_total", "Events from the broker, by outcome"),
    activityIn: registry.counter(
      "comet_bridge_activity_in_total",
      "Activity read back from the broker, by outcome (replaced = a local session closed 4409)",
    ),
    activityOut: registry.counter(
      "comet_bridge_activity_out_total",
      "Activity sent to the broker (QoS 0: written; QoS 1/2: acknowledged), by type",
    ),
    dropped: registry.counter("comet_bridge_activity_dropped_total", "Outgoing activity dropped, by reason"),
    presenceOut: registry.counter(
      "comet_presence_out_total",
      "Presence transitions sent to mqtt.presence_topic (QoS 0: written; QoS 1/2: acknowledged), by type",
    ),
    presenceDropped: registry.counter("comet_presence_dropped_total", "Presence transitions not sent, by reason"),
    viewsIn: registry.counter(
      "comet_bridge_views_in_total",
      "Presence view snapshots read from other instances, by outcome (merged, own, invalid, unsigned, stale)",
    ),
    statusIn: registry.counter(
      "comet_bridge_server_status_in_total",
      "Server statuses read on comet/servers/+, by outcome (online, offline, stale, cleared, invalid, unsigned, own)",
    ),
    dumpsIn: registry.counter(
      "comet_bridge_dumps_in_total",
      "Cluster DumpSession messages read, by kind (request, answer) and outcome (answered, merged, own, late, duplicate, invalid, unsigned, stale)",
    ),
    reconnects: registry.counter(
      "comet_bridge_reconnects_total",
      "Times the bridge got back to the broker after losing it",
    ),
    routePackets: registry.counter(
      "comet_bridge_route_packets_total",
      "SUBSCRIBE and UNSUBSCRIBE packets sent for routed topics (mqtt.routing), by type",
    ),
    routesRefused: registry.counter(
      "comet_bridge_routes_refused_total",
      "Routed topics the broker refused to subscribe (its ACL)",
    ),
    disconnectsIn: registry.counter(
      "comet_bridge_disconnects_in_total",
      "Cluster Disconnect requests and answers read, by kind and outcome (done, own, merged, late, invalid, unsigned, stale, duplicate)",
    ),
    revocationsIn: registry.counter(
      "comet_revocations_in_total",
      "Retained revocations read from the broker, by outcome (kept, known, expired, cleared, invalid, unsigned)",
    ),
    forwarded: registry.counter(
      "comet_bridge_forwarded_total",
      "API deliveries sent on to the cluster (mqtt.forward_api), by outcome (local = the user is here)",
    ),
  };
}
