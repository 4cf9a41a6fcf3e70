/**
 * The MQTT bridge: Events in (→ hub delivery), user activity out, and one session per uid across
 * every instance on the broker. The broker being away never stops the instance: it keeps serving
 * its own clients, holds a bounded queue of activity, and reconnects with backoff. This class is a
 * list of parts installed on one link (wire/link.ts): the live instances and the activity
 * (cluster/install.ts), Events and the API's reach (routing/install.ts), presence
 * (cluster/presence.ts).
 */
import { randomBytes } from "node:crypto";
import type { RevocationTable } from "../auth/revocations.ts";
import type { Broker } from "../broker/broker.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import { instanceId } from "../util/instance-id.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { PresenceTransition, PresenceView } from "../presence/view.ts";
import { installActivity, installServers, makeServerRegistry } from "./cluster/install.ts";
import { installPresenceLink, type PresencePiece } from "./cluster/presence.ts";
import { installRevocations, type RevocationsPiece } from "./cluster/revocations.ts";
import type { LiveServers, ServerRegistry } from "./cluster/servers.ts";
import type { BridgeContext, BridgePiece } from "./context.ts";
import { bridgeCounters } from "./counters.ts";
import type { EventSink } from "./routing/events-in.ts";
import type { ClusterBroker } from "./routing/forward.ts";
import { installApiReach, installEvents } from "./routing/install.ts";
import { type BridgeSettings, bridgeSettings, showUrl } from "./settings.ts";
import { type EmbeddedBroker, startEmbeddedBroker } from "./wire/embedded.ts";
import { BrokerLink, type LinkOptions } from "./wire/link.ts";

export interface BridgeDeps {
  config: Config;
  hub: Hub;
  registry: Registry;
  log: Logger;
  /** This instance's id (instanceId()); a fresh one when not given. */
  id?: string;
  /** The presence view, fed with the cluster's activity and instances and published from. */
  presence?: PresenceView;
  /** The instance's revoked tokens: kept in step with the broker's retained revocations. */
  revocations?: RevocationTable;
  /** Where Events go: the shared log's ingress (history.store: redis); the hub by default. */
  ingress?: EventSink;
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
  // Loaded only now, with a bridge configured: mqtt.js is not in memory otherwise.
  const { connect } = await import("mqtt");
  return new Bridge(link, settings.url ?? (embedded as EmbeddedBroker).url, deps, embedded, connect);
}

export class Bridge {
  /** This instance's id: the `server` of its activity, and the tie-break of the replacement rule. */
  readonly id: string;
  /** The broker URL with any password hidden. */
  readonly url: string;
  /** Where the API's publications go: this instance, or with mqtt.forward_api the whole cluster. */
  readonly broker: Broker;
  /** With mqtt.forward_api: what sends a publication on to the other instances (the shared log's broker uses it). */
  readonly forwarder: ClusterBroker | undefined;
  private readonly link: BrokerLink;
  private readonly registry: ServerRegistry;
  /** The installed parts, closed last first. */
  private readonly pieces: BridgePiece[] = [];
  private readonly presence: PresencePiece | undefined;
  private readonly revocations: RevocationsPiece | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    settings: BridgeSettings,
    url: string,
    deps: BridgeDeps,
    readonly embedded: EmbeddedBroker | undefined,
    connect: LinkOptions["connect"],
  ) {
    const { registry, hub, log } = deps;
    this.id = deps.id ?? instanceId();
    this.url = showUrl(url);
    const counters = bridgeCounters(registry);
    const servers = makeServerRegistry(this.id, settings, counters, log);
    this.registry = servers;
    log.info("mqtt bridge starting", {
      url: this.url,
      server: this.id,
      events_topic: settings.eventsTopic,
      activity_topic: settings.activityTopic,
      routing: settings.routing ? "on" : "off",
      forward_api: settings.forwardApi,
    });
    this.link = new BrokerLink({
      url,
      settings,
      will: () => servers.will(),
      goodbye: () => servers.offline(),
      reconnects: counters.reconnects,
      log,
      connect,
    });
    const { revocations } = deps;
    const ingress = deps.ingress ?? hub;
    const ctx: BridgeContext = {
      settings,
      hub,
      registry,
      log,
      id: this.id,
      link: this.link,
      servers,
      counters,
      revocations,
      ingress,
    };
    this.pieces.push(installServers(ctx));
    const events = installEvents(ctx);
    this.pieces.push(events);
    this.pieces.push(installActivity(ctx, deps.presence && ((a) => deps.presence?.remote(a))));
    if (deps.presence) {
      this.presence = installPresenceLink(ctx, deps.presence);
      this.pieces.push(this.presence);
    }
    const reach = installApiReach(ctx, events.routed);
    this.broker = reach.broker;
    this.forwarder = reach.forwarder;
    if (revocations) {
      this.revocations = installRevocations(ctx, deps.config.namespace, revocations);
      this.pieces.push(this.revocations);
    }
    registry.gauge("comet_bridge_connected", "1 while connected to the broker and subscribed, else 0", () =>
      this.link.ready ? 1 : 0,
    );
    this.link.start();
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
    return this.link.notReady() ?? this.revocations?.notReady();
  }

  /** Stops reconnecting, sends what the client already holds, disconnects, stops the embedded broker. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.pieces.length > 0) (this.pieces.pop() as BridgePiece).close();
      await this.link.close();
      this.registry.close();
      await this.embedded?.close();
    })();
    return this.closing;
  }
}
