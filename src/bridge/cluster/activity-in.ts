/**
 * Activity read back from the broker, this instance's own and the others': counted by outcome,
 * and another instance's newer ONLINE for a uid held here closes the local session (the rule is
 * cluster-rule.ts). The rule compares ONLINE times: a local session's is its onlineUs.
 */
import type { Counter } from "../../metrics/registry.ts";
import type { Hub } from "../../hub/hub.ts";
import type { Logger } from "../../log.ts";
import { Close } from "../../protocol/codes.ts";
import { judgeRemoteActivity } from "./cluster-rule.ts";
import { parseActivity, type RemoteActivity } from "../wire/event.ts";
import { signatureValid } from "../../util/signature.ts";
import { RateLimitedWarn } from "../../util/ratelog.ts";

export interface ActivityInOptions {
  hub: Pick<Hub, "sessions" | "kick">;
  topic: string;
  /** This instance's id: its own activity comes back with it. */
  server: string;
  /** By outcome: own, ignored, kept, replaced, invalid, unsigned. */
  received: Counter;
  /** mqtt.cluster_key: when set, activity without its valid signature is counted and ignored. */
  clusterKey?: string;
  /** Another instance's activity, once it is understood and its signature checked (the presence view). */
  onRemote?: (a: RemoteActivity) => void;
  log: Logger;
}

export class ActivityIn {
  private readonly invalid: RateLimitedWarn;
  private readonly unsigned: RateLimitedWarn;

  constructor(private readonly options: ActivityInOptions) {
    this.invalid = new RateLimitedWarn(options.log, "mqtt: activity from the broker not understood");
    this.unsigned = new RateLimitedWarn(options.log, "mqtt: activity without a valid cluster_key signature ignored");
  }

  private signed(a: RemoteActivity, key: string): boolean {
    return signatureValid(key, { type: a.type, uid: a.uid, rid: a.rid, time: String(a.time), server: a.server }, a.sig);
  }

  receive(payload: Buffer): void {
    const { hub, topic, server, received, log } = this.options;
    const a = parseActivity(payload);
    if (!a) {
      received.inc({ outcome: "invalid" });
      this.invalid.warn({ topic, bytes: payload.byteLength });
      return;
    }
    if (this.options.clusterKey && a.server !== server && !this.signed(a, this.options.clusterKey)) {
      received.inc({ outcome: "unsigned" });
      this.unsigned.warn({ topic, server: a.server });
      return;
    }
    if (a.server !== server) this.options.onRemote?.(a);
    const session = hub.sessions.get(a.uid);
    // The exact number its ONLINE carried, which the other instances compare theirs with.
    const localOnline = session && BigInt(session.onlineUs) * 1000n;
    const outcome = judgeRemoteActivity(a, server, localOnline);
    received.inc({ outcome });
    if (outcome === "kept") {
      log.info("session kept: an older ONLINE from another instance", { uid: a.uid, server: a.server });
    } else if (outcome === "replaced") {
      log.info("session replaced by another instance", { uid: a.uid, server: a.server });
      hub.kick(a.uid, Close.Replaced, "replaced by a newer session of the same uid on another instance");
    }
  }
}
