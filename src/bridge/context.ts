/** What every part of the bridge is installed with: its settings, the link, the live instances. */
import type { RevocationTable } from "../auth/revocations.ts";
import type { Hub } from "../hub/hub.ts";
import type { Logger } from "../log.ts";
import type { Registry } from "../metrics/registry.ts";
import type { ServerRegistry } from "./cluster/servers.ts";
import type { EventSink } from "./routing/events-in.ts";
import type { BridgeCounters } from "./counters.ts";
import type { BridgeSettings } from "./settings.ts";
import type { BrokerLink } from "./wire/link.ts";

export interface BridgeContext {
  readonly settings: BridgeSettings;
  readonly hub: Hub;
  readonly registry: Registry;
  readonly log: Logger;
  /** This instance's id: the `server` of its activity, and the tie-break of the replacement rule. */
  readonly id: string;
  /** The connection to the broker: parts say what they read on it before it starts. */
  readonly link: BrokerLink;
  /** The live instances on the broker (comet/servers/+). */
  readonly servers: ServerRegistry;
  readonly counters: BridgeCounters;
  /** The instance's revoked tokens, kept in step with the broker (cluster/revocations.ts). */
  readonly revocations?: RevocationTable;
  /** Where Events go: the shared log's ingress (history.store: redis), else the hub. */
  readonly ingress: EventSink;
}

/** What the bridge keeps of a part once installed: how to stop it. */
export interface BridgePiece {
  close(): void;
}
