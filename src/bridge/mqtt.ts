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
import type { Registry } from "../metrics/registry.ts";
import type { Logger } from "../log.ts";
import { ActivityIn } from "./cluster/activity-in.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./wire/embedded.ts";
import { EventsIn } from "./routing/events-in.ts";
import { Forwarder } from "./routing/forward.ts";
import { DUMP_REQUESTS, DumpGather, GATHER_TIMEOUT_MS, replyTopic } from "./routing/gather.ts";
import { BrokerLink } from "./wire/link.ts";
import { Outbox } from "./wire/outbox.ts";
import type { PresenceTransition, PresenceView } from "../presence/view.ts";
import { PresenceLink, VIEWS_FILTER } from "../presence/link.ts";
import { routeActivity } from "./routing/activity-routes.ts";
import { type LiveServers, SERVERS_FILTER, ServerRegistry } from "./cluster/servers.ts";
import { type BridgeSettings, bridgeSettings, showUrl } from "./settings.ts";
import { Subscriptions } from "./routing/subscriptions.ts";
import { RoutedTopics } from "./routing/topics.ts";
import type { Target } from "../hub/execute.ts";
import type { Delivery } from "../protocol/commands.ts";

export interface BridgeDeps {
  config: Config;
  hub: Hub;
  registry: Registry;
  log: Logger;
  /** This instance's id (instanceId()); a fresh one when not given. */
  id?: string;
  /** The presence view, fed with the cluster's activity and instances and published from. */
  presence?: PresenceView;
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
      refused: deps.registry.counter(
        "comet_embedded_refused_total",
        "Connections the embedded broker refused or ended for its limits, by reason (connect_too_large, packet_too_large, pending_full, pending_per_address, connect_timeout)",
      ),
      access: {
        instance,
        publishers,
        anonymous,
        eventsTopic: settings.eventsTopic,
        activityTopic: settings.activityTopic,
        presenceTopic: settings.presenceTopic,
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
    forwarded: registry.counter(
      "comet_bridge_forwarded_total",
      "API deliveries sent on to the cluster (mqtt.forward_api), by outcome (local = the user is here)",
    ),
  };
}

export class Bridge {
  /** This instance's id: the `server` of its activity, and the tie-break of the replacement rule. */
  readonly id: string;
  /** The broker URL with any password hidden. */
  readonly url: string;
  /** Where the API acts: the hub, or with mqtt.forward_api the whole cluster. */
  readonly target: Target;
  private readonly link: BrokerLink;
  private readonly outbox: Outbox;
  private readonly subscriptions: Subscriptions | undefined;
  private readonly presenceOut: Outbox | undefined;
  private readonly registry: ServerRegistry;
  private readonly presence: PresenceLink | undefined;
  private readonly unlisten: () => void;
  private closing: Promise<void> | undefined;
  private announceTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    settings: BridgeSettings,
    url: string,
    deps: BridgeDeps,
    readonly embedded: EmbeddedBroker | undefined,
  ) {
    const { registry, hub, log } = deps;
    this.id = deps.id ?? instanceId();
    const { eventsTopic, activityTopic, presenceTopic } = settings;
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
      onRemote: deps.presence && ((a) => deps.presence?.remote(a)),
      log,
    });
    const receiveEvent = (payload: Buffer, retained: boolean) => eventsIn.receive(payload, retained);
    const topics = new Map([
      [eventsTopic, receiveEvent],
      [activityTopic, (payload: Buffer) => activityIn.receive(payload)],
    ]);
    // The legacy events topic stays: backends that publish there reach every instance as before.
    const routed = settings.routing ? new RoutedTopics(eventsTopic) : undefined;
    if (routed)
      topics.set(routed.world, (payload: Buffer, retained: boolean) =>
        eventsIn.receive(payload, retained, routed.world),
      );
    this.registry = new ServerRegistry({
      self: this.id,
      clusterKey: settings.clusterKey,
      received: counters.statusIn,
      unsigned: counters.activityIn,
      log,
    });
    // Who joins hears this instance again: a broker that keeps retained messages from wildcard
    // subscriptions (RabbitMQ) would otherwise leave it unknown to the newcomer.
    this.registry.onChange((c) => {
      if (c.change === "joined") this.announceSoon();
    });
    const filters = new Map([
      [SERVERS_FILTER, (topic: string, payload: Buffer) => this.registry.receive(topic, payload)],
    ]);
    if (deps.presence) {
      filters.set(VIEWS_FILTER, (topic: string, payload: Buffer) => this.presence?.receive(topic, payload));
    }
    // Every live instance (servers.ts) answers a cluster DumpSession, whatever its own
    // mqtt.forward_api: those with it ask, and wait for everyone live (gather.ts, made once the
    // link exists: the handlers below reach it when messages come).
    let gather: DumpGather | undefined;
    filters.set(DUMP_REQUESTS, (_topic: string, payload: Buffer) => gather?.onRequest(payload));
    if (settings.forwardApi) topics.set(replyTopic(this.id), (payload: Buffer) => gather?.onReply(payload));
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
      filters,
      // What matches neither a topic nor a filter is a routed topic's Event (subscriptions.ts).
      other:
        routed && ((topic: string, payload: Buffer, retained: boolean) => eventsIn.receive(payload, retained, topic)),
      will: () => this.registry.will(),
      goodbye: () => this.registry.offline(),
      onConnected: () => {
        this.link.publishRetained(this.registry.online());
        if (this.link.generation > 1) this.registry.resync();
        this.subscriptions?.connected();
        this.presence?.connected();
        this.outbox.flush();
        this.presenceOut?.flush();
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
    const g = new DumpGather({
      hub,
      wire: this.link,
      servers: this.registry,
      server: this.id,
      qos: settings.qos,
      maxPartBytes: Math.max(1024, settings.limits.maxBodyBytes >> 1),
      timeoutMs: GATHER_TIMEOUT_MS,
      clusterKey: settings.clusterKey,
      received: counters.dumpsIn,
      unsigned: counters.activityIn,
      log,
    });
    gather = g;
    if (settings.forwardApi) {
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
    if (deps.presence) {
      const missing = (["ONLINE", "OFFLINE"] as const).filter((t) => !settings.activity.has(t));
      if (missing.length > 0) {
        log.warn("presence: mqtt.activity leaves out what the other instances' views need", {
          missing,
          effect: "this instance's users look offline to the others, and theirs stay online here",
        });
      }
      this.presenceOut = new Outbox(this.link, {
        topic: presenceTopic,
        qos: settings.qos,
        capacity: settings.queue,
        types: new Set(),
        server: this.id,
        clusterKey: settings.clusterKey,
        out: counters.presenceOut,
        dropped: counters.presenceDropped,
      });
      this.presence = new PresenceLink({
        view: deps.presence,
        servers: this.registry,
        wire: this.link,
        outbox: this.presenceOut,
        qos: settings.qos,
        clusterKey: settings.clusterKey,
        received: counters.viewsIn,
        unsigned: counters.activityIn,
        log,
      });
    }
    registry.gauge("comet_bridge_connected", "1 while connected to the broker and subscribed, else 0", () =>
      this.link.ready ? 1 : 0,
    );
    registry.gauge(
      "comet_cluster_servers",
      "Live instances on the broker, this one included",
      () => this.registry.live().length,
    );
    registry.gauge("comet_bridge_queue_length", "Outgoing activity waiting for the broker", () => this.outbox.size);
    const route = routed && this.subscriptions ? routeActivity(routed, this.subscriptions) : undefined;
    this.unlisten = hub.onActivity((a) => {
      route?.(a);
      this.outbox.add(a);
    });
  }

  private announceSoon(): void {
    if (this.announceTimer) return;
    this.announceTimer = setTimeout(() => {
      this.announceTimer = undefined;
      this.link.publishRetained(this.registry.online());
    }, 50);
  }

  /** A transition this instance emits, to mqtt.presence_topic (a no-op without a presence view). */
  presenceTransition(t: PresenceTransition): void {
    this.presence?.transition(t);
  }

  /** The live instances on the broker (comet/servers/+), with their joins and leaves. */
  get servers(): LiveServers {
    return this.registry;
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
      if (this.announceTimer) clearTimeout(this.announceTimer);
      this.presence?.close();
      this.outbox.close();
      this.presenceOut?.close();
      await this.link.close();
      this.registry.close();
      await this.embedded?.close();
    })();
    return this.closing;
  }
}
