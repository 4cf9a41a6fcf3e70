/**
 * The presence view's link over the bridge (presence/link.ts): its transitions out to
 * mqtt.presence_topic through an outbox of their own, the other instances' view snapshots in.
 */
import { PresenceLink } from "../../presence/link.ts";
import type { PresenceTransition, PresenceView } from "../../presence/view.ts";
import type { BridgeContext, BridgePiece } from "../context.ts";
import { Outbox } from "../wire/outbox.ts";
import { SERVERS_TOPIC } from "./servers.ts";

/** Every instance's view snapshots: `comet/servers/<id>/view`. */
export const VIEWS_FILTER = `${SERVERS_TOPIC}/+/view`;

export interface PresencePiece extends BridgePiece {
  transition(t: PresenceTransition): void;
}

export function installPresenceLink(ctx: BridgeContext, view: PresenceView): PresencePiece {
  const { settings, counters, link, log } = ctx;
  const missing = (["ONLINE", "OFFLINE"] as const).filter((t) => !settings.activity.has(t));
  if (missing.length > 0) {
    log.warn("presence: mqtt.activity leaves out what the other instances' views need", {
      missing,
      effect: "this instance's users look offline to the others, and theirs stay online here",
    });
  }
  const out = new Outbox(link, {
    topic: settings.presenceTopic,
    qos: settings.qos,
    capacity: settings.queue,
    types: new Set(),
    server: ctx.id,
    clusterKey: settings.clusterKey,
    out: counters.presenceOut,
    dropped: counters.presenceDropped,
  });
  const presence = new PresenceLink({
    view,
    servers: ctx.servers,
    wire: {
      get connected() {
        return link.connected;
      },
      publish: (topic, payload) => link.publish(topic, payload, settings.qos),
    },
    outbox: out,
    serversTopic: SERVERS_TOPIC,
    clusterKey: settings.clusterKey,
    received: counters.viewsIn,
    unsigned: counters.activityIn,
    log,
  });
  link.readFilter(VIEWS_FILTER, (topic, payload) => presence.receive(topic, payload));
  link.whenConnected(() => {
    presence.connected();
    out.flush();
  });
  return {
    transition: (t) => presence.transition(t),
    close() {
      presence.close();
      out.close();
    },
  };
}
