/**
 * The MQTT bridge: Events in (→ hub delivery), user activity out, and one session per uid across
 * every instance on the broker. The broker being away never stops the instance: it keeps serving
 * its own clients, holds a bounded queue of activity, and reconnects with backoff. This class only
 * wires the parts: the link (link.ts), the outbox (outbox.ts), events in (events-in.ts), activity
 * read back and the replacement rule (activity-in.ts, cluster-rule.ts).
 */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Registry } from "../http/metrics.ts";
import type { Logger } from "../log.ts";
import { ActivityIn } from "./activity-in.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./embedded.ts";
import { EventsIn } from "./events-in.ts";
import { Forwarder } from "./forward.ts";
import { DUMP_REQUESTS, DumpGather, GATHER_TIMEOUT_MS, isDumpRequest, replyTopic } from "./gather.ts";
import { SERVERS_FILTER, SERVERS_PREFIX, ServerStatus } from "./peers.ts";
import { BrokerLink } from "./link.ts";
import { Outbox } from "./outbox.ts";
import { routeActivity } from "./routing.ts";
import { type BridgeSettings, bridgeSettings, showUrl } from "./settings.ts";
import { Subscriptions } from "./subscriptions.ts";
import { RoutedTopics } from "./topics.ts";
import type { Target } from "../hub/execute.ts";
import type { Delivery } from "../protocol/commands.ts";

export interface BridgeDeps {
  config: Config;
  hub: Hub;
  registry: Registry;
  log: Logger;
}

/** Starts the bridge (and the embedded broker when configured); undefined when mqtt is off. */
export async function startBridge(deps: BridgeDeps): Promise<Bridge | undefined> {
  const settings = bridgeSettings(deps.config);
  if (!settings) return undefined;
  let embedded: EmbeddedBroker | undefined;
  let link = settings;
  if (settings.embedded) {
    const { host, port, publishers, anonymous, maxPacketBytes } = settings.embedded;
    // With no instances' account configured, the bridge gets one of its own: anonymous clients
    // are backends, which may not publish the activity the bridge sends.
    const instance = {
      username: settings.username ?? `comet-${randomBytes(6).toString("hex")}`,
      password: settings.password ?? randomBytes(32).toString("base64url"),
    };
    link = { ...settings, ...instance };
    embedded = await startEmbeddedBroker({
      host,
      port,
      maxPacketBytes,
      access: {
        instance,
        publishers,
        anonymous,
        eventsTopic: settings.eventsTopic,
        activityTopic: settings.activityTopic,
      },
      log: deps.log,
    });
  }
  return new Bridge(link, settings.url ?? (embedded as EmbeddedBroker).url, deps, embedded);
}

/**
 * hostname + pid tell an operator where an instance runs; the random part keeps ids apart in one
 * process. The id is a topic level (comet/servers/<id>): a host name's dots would be level
 * separators on RabbitMQ, which maps topics onto AMQP routing keys.
 */
export function instanceId(): string {
  return `${hostname().replaceAll(".", "-")}-${process.pid}-${randomBytes(3).toString("hex")}`;
}

function bridgeCounters(registry: Registry) {
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
    forwarded: registry.counter(
      "comet_bridge_forwarded_total",
      "API deliveries sent on to the cluster (mqtt.forward_api), by outcome (local = the user is here)",
    ),
  };
}

export class Bridge {
  /** This instance's id: the `server` of its activity, and the tie-break of the replacement rule. */
  readonly id = instanceId();
  /** The broker URL with any password hidden. */
  readonly url: string;
  /** Where the API acts: the hub, or with mqtt.forward_api the whole cluster. */
  readonly target: Target;
  private readonly link: BrokerLink;
  private readonly outbox: Outbox;
  private readonly subscriptions: Subscriptions | undefined;
  private readonly status: ServerStatus | undefined;
  private readonly unlisten: () => void;
  private closing: Promise<void> | undefined;

  constructor(
    settings: BridgeSettings,
    url: string,
    deps: BridgeDeps,
    readonly embedded: EmbeddedBroker | undefined,
  ) {
    const { registry, hub, log } = deps;
    const { eventsTopic, activityTopic } = settings;
    const counters = bridgeCounters(registry);
    const eventsIn = new EventsIn({
      hub,
      topic: eventsTopic,
      limits: settings.limits,
      received: counters.eventsIn,
      server: this.id,
      log,
    });
    const activityIn = new ActivityIn({
      hub,
      topic: activityTopic,
      server: this.id,
      received: counters.activityIn,
      clusterKey: settings.clusterKey,
      log,
    });
    const receiveEvent = (payload: Buffer) => eventsIn.receive(payload);
    const topics = new Map([
      [eventsTopic, receiveEvent],
      [activityTopic, (payload: Buffer) => activityIn.receive(payload)],
    ]);
    // The legacy events topic stays: backends that publish there reach every instance as before.
    const routed = settings.routing ? new RoutedTopics(eventsTopic) : undefined;
    if (routed) topics.set(routed.world, receiveEvent);
    // forward_api: the instances know each other (peers.ts) and answer each other's DumpSession
    // (gather.ts, made once the link exists: the handlers below reach it when messages come).
    const status = settings.forwardApi ? new ServerStatus(this.id) : undefined;
    this.status = status;
    let gather: DumpGather | undefined;
    if (status) {
      // Wildcard filters: their messages come by way of `other` below.
      topics.set(SERVERS_FILTER, () => {});
      topics.set(DUMP_REQUESTS, () => {});
      topics.set(replyTopic(this.id), (payload: Buffer) => gather?.onReply(payload));
    }
    const other = (topic: string, payload: Buffer) => {
      if (!topic.startsWith(SERVERS_PREFIX)) {
        // A routed topic's Event.
        receiveEvent(payload);
      } else if (isDumpRequest(topic)) gather?.onRequest(payload);
      else status?.receive(topic, payload);
    };
    this.url = showUrl(url);
    log.info("mqtt bridge starting", {
      url: this.url,
      server: this.id,
      events_topic: eventsTopic,
      activity_topic: activityTopic,
      routing: settings.routing ? "on" : "off",
      forward_api: settings.forwardApi,
    });
    this.link = new BrokerLink({
      url,
      settings,
      topics,
      other,
      will: status?.will,
      onConnected: () => {
        status?.connected(this.link);
        this.subscriptions?.connected();
        this.outbox.flush();
      },
      reconnects: counters.reconnects,
      log,
    });
    if (routed) {
      const subs = new Subscriptions(this.link, {
        qos: settings.qos,
        packets: counters.routePackets,
        refused: counters.routesRefused,
        log,
      });
      this.subscriptions = subs;
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
    }
    if (status) {
      const g = new DumpGather({
        hub,
        wire: this.link,
        servers: status,
        server: this.id,
        qos: settings.qos,
        maxPartBytes: Math.max(1024, settings.limits.maxBodyBytes >> 1),
        timeoutMs: GATHER_TIMEOUT_MS,
        log,
      });
      gather = g;
      this.target = new Forwarder({
        hub,
        wire: this.link,
        topicOf: routed ? (d: Delivery) => routed.of(d) : () => eventsTopic,
        server: this.id,
        qos: settings.qos,
        dump: (withTransport) => g.gather(withTransport),
        forwarded: counters.forwarded,
      });
    } else this.target = hub;
    this.outbox = new Outbox(this.link, {
      topic: activityTopic,
      qos: settings.qos,
      capacity: settings.queue,
      types: settings.activity,
      server: this.id,
      clusterKey: settings.clusterKey,
      out: counters.activityOut,
      dropped: counters.dropped,
    });
    registry.gauge("comet_bridge_connected", "1 while connected to the broker and subscribed, else 0", () =>
      this.link.ready ? 1 : 0,
    );
    registry.gauge("comet_bridge_queue_length", "Outgoing activity waiting for the broker", () => this.outbox.size);
    const route = routed && this.subscriptions ? routeActivity(routed, this.subscriptions) : undefined;
    this.unlisten = hub.onActivity((a) => {
      activityIn.noteLocal(a);
      route?.(a);
      this.outbox.add(a);
    });
  }

  /** For /readyz: undefined when ready, else why not. */
  notReady(): string | undefined {
    return this.link.notReady();
  }

  /** Stops reconnecting, sends what the client already holds, disconnects, stops the embedded broker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.unlisten();
      this.subscriptions?.close();
      this.status?.leave(this.link.connected ? this.link : undefined);
      this.outbox.close();
      await this.link.close();
      await this.embedded?.close();
    })();
    return this.closing;
  }
}
