/**
 * The MQTT bridge as a part of an instance (when mqtt.url or mqtt.embedded.listen is set): the
 * cluster's delivery, activity and presence; its readiness is the broker link's.
 */
import type { RevocationTable } from "../auth/revocations.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { Part } from "../part.ts";
import type { PresencePart } from "../presence/install.ts";
import { type Bridge, startBridge } from "./mqtt.ts";
import type { EventSink } from "./routing/events-in.ts";

export interface BridgePart extends Part {
  readonly bridge: Bridge;
}

export async function installBridge(
  core: { config: Config; hub: Hub; registry: Registry; log: Logger; id: string; revocations: RevocationTable },
  presence: PresencePart,
  ingress?: EventSink,
): Promise<BridgePart | undefined> {
  const { config, hub, registry, log, id, revocations } = core;
  const bridge = await startBridge({ config, hub, registry, log, id, presence: presence.view, revocations, ingress });
  if (!bridge) return undefined;
  presence.onTransition((t) => bridge.presenceTransition(t));
  return { bridge, ready: () => bridge.notReady(), close: () => bridge.close() };
}
