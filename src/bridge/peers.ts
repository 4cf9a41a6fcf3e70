/**
 * Which instances are on the broker, for answers that span the cluster (bridge/gather.ts): whom a
 * cluster DumpSession waits for, and whom it names when they do not answer in time.
 *
 * The contract's server status (docs/protocol.md, Part 2, "Instances know each other"): on each
 * connection an instance publishes a retained `online` on `comet/servers/<server id>` and leaves a
 * Last Will of `offline` there; on a graceful end it clears its retained status. RabbitMQ (3.x)
 * sends no retained message to a wildcard subscription, so a newcomer would learn of no one: an
 * instance that sees an `online` it did not know says its own `online` again (once per 100 ms at
 * most), which the newcomer, subscribed before it spoke, receives. Only instances
 * with mqtt.forward_api announce themselves (a broker whose ACL has no `comet/servers/#` for the
 * others is not asked for it). Issue 18's registry (presence) is to take this job over, behind
 * the same LiveServers interface.
 */
import { escapeLevel, unescapeLevel } from "./topics.ts";

export const SERVERS_PREFIX = "comet/servers/";
/** The filter that brings every instance's status. */
export const SERVERS_FILTER = `${SERVERS_PREFIX}+`;

export interface LiveServers {
  /** The server ids believed online now, this instance's own included once the broker echoed it. */
  live(): Iterable<string>;
}

export interface StatusWire {
  publishRetained(topic: string, payload: string): void;
}

/** Re-announcements within this window go as one. */
const ANNOUNCE_MS = 100;

export class ServerStatus implements LiveServers {
  readonly topic: string;
  private readonly online = new Set<string>();
  private wire: StatusWire | undefined;
  private announce: ReturnType<typeof setTimeout> | undefined;

  constructor(readonly server: string) {
    this.topic = SERVERS_PREFIX + escapeLevel(server);
  }

  /** The Last Will for the link: the broker says `offline` for this instance if it vanishes. */
  get will(): { topic: string; payload: string } {
    return { topic: this.topic, payload: "offline" };
  }

  live(): Iterable<string> {
    return this.online;
  }

  /** A new connection: the retained statuses come again after the subscription, so start afresh. */
  connected(wire: StatusWire): void {
    this.wire = wire;
    this.online.clear();
    wire.publishRetained(this.topic, "online");
  }

  /** A message on comet/servers/<id>: `online`, or `offline` (its will), or empty (cleared on a graceful end). */
  receive(topic: string, payload: Buffer): void {
    const id = topic.startsWith(SERVERS_PREFIX) ? unescapeLevel(topic.slice(SERVERS_PREFIX.length)) : undefined;
    if (id === undefined) return;
    if (!isOnline(payload.toString("utf8"))) {
      this.online.delete(id);
      return;
    }
    if (this.online.has(id)) return;
    this.online.add(id);
    // A newcomer (or one this instance had not heard of): it must hear of this instance too.
    if (id !== this.server) {
      this.announce ??= setTimeout(() => {
        this.announce = undefined;
        this.wire?.publishRetained(this.topic, "online");
      }, ANNOUNCE_MS);
    }
  }

  /** A graceful end: the retained status is cleared (when connected), so no stale `online` outlives the instance. */
  leave(wire: StatusWire | undefined): void {
    if (this.announce) clearTimeout(this.announce);
    this.announce = undefined;
    this.wire = undefined;
    wire?.publishRetained(this.topic, "");
  }
}

/** `online`, or a status object whose type is "online" (the JSON shape issue 18's registry sends). */
function isOnline(text: string): boolean {
  if (text === "online") return true;
  if (!text.startsWith("{")) return false;
  try {
    return (JSON.parse(text) as { type?: unknown }).type === "online";
  } catch {
    return false;
  }
}
