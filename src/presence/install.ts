/**
 * Presence as a part of an instance: the view of who is online, fed with this instance's activity
 * (and, once the bridge attaches its link, the cluster's), and the transitions it emits handed to
 * whoever listens (webhooks, the bridge's presence topic).
 */
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Part } from "../part.ts";
import type { Registry } from "../metrics/registry.ts";
import { type PresenceTransition, PresenceView, soloServers } from "./view.ts";

export interface PresencePart extends Part {
  readonly view: PresenceView;
  /** Every transition this instance emits goes to each listener, in the order they were added. */
  onTransition(listener: (t: PresenceTransition) => void): void;
}

export function installPresence(core: { config: Config; hub: Hub; registry: Registry; id: string }): PresencePart {
  const { hub, registry } = core;
  const listeners: Array<(t: PresenceTransition) => void> = [];
  const transitions = registry.counter(
    "comet_presence_transitions_total",
    "Presence transitions emitted here, by type",
  );
  // Each type's series looked up once: a transition on every connect renders no labels.
  const counted = { ONLINE: transitions.with({ type: "ONLINE" }), OFFLINE: transitions.with({ type: "OFFLINE" }) };
  const flaps = registry.counter(
    "comet_presence_flaps_suppressed_total",
    "Reconnects within presence.offline_grace: OFFLINE transitions that did not happen",
  );
  const view = new PresenceView({
    servers: soloServers(core.id),
    sessions: hub.sessions,
    graceMs: core.config.presence.offline_grace,
    emit: (t) => {
      counted[t.type].inc();
      for (const l of listeners) l(t);
    },
    suppressed: () => flaps.inc(),
  });
  registry.gaugeSeries(
    "comet_presence_online",
    "Users online: with a session here (local), in the cluster view (cluster)",
    () => [
      [{ view: "local" }, hub.sessions.size],
      [{ view: "cluster" }, view.size],
    ],
  );
  // Last among the hub's listeners: a session's activity goes out (the bridge's listener comes
  // first) before the transition it causes. Rooms are the hub's to tell (view.local reads only these two).
  const unlisten = hub.onActivity((a, s) => view.local(a, s), { only: ["ONLINE", "OFFLINE"], last: true });
  return {
    view,
    onTransition: (listener) => listeners.push(listener),
    close() {
      unlisten();
      // Its grace timers go with it: with the bridge, the other instances emit what was pending.
      view.close();
    },
  };
}
