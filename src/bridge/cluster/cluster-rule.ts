/**
 * One session per uid across the cluster. Every instance publishes its sessions' ONLINE; an
 * instance that reads another's ONLINE for a uid it holds decides here whether its session gives
 * way. Both instances compare the same two ONLINE times by the same rule, so exactly one of two
 * sessions survives, and a late, stale ONLINE never closes the newer login. Pure: the caller
 * remembers the ONLINE times and closes the session.
 */
import type { ActivityName } from "../../hub/activity.ts";
import { compareUtf8 } from "../../util/order.ts";

export interface LocalOnline {
  /** The ONLINE time this instance published for its session, in ns since the epoch. */
  onlineNs: bigint;
  /** This instance's id. */
  server: string;
}

export interface RemoteOnline {
  /** The ONLINE time another instance published, in ns since the epoch. */
  time: bigint;
  server: string;
}

export type Replacement = "replace" | "keep";

/**
 * The later ONLINE wins. At equal times the larger server id wins, compared in UTF-8 byte order
 * because an instance in another language must reach the same answer from the same two ids.
 */
export function decideReplacement(local: LocalOnline, remote: RemoteOnline): Replacement {
  // An instance's own ONLINE comes back from the broker: its hub has already replaced the session.
  if (remote.server === local.server) return "keep";
  if (remote.time !== local.onlineNs) return remote.time > local.onlineNs ? "replace" : "keep";
  return compareUtf8(remote.server, local.server) > 0 ? "replace" : "keep";
}

/** What one activity read back from the broker comes to: the outcomes of comet_bridge_activity_in_total. */
export type RemoteOutcome = "own" | "ignored" | "kept" | "replaced";

/**
 * The rule applied to any activity read back: only another instance's ONLINE for a uid with a
 * session here (localOnlineNs given) can replace it.
 */
export function judgeRemoteActivity(
  remote: RemoteOnline & { type: ActivityName },
  self: string,
  localOnlineNs: bigint | undefined,
): RemoteOutcome {
  if (remote.server === self) return "own";
  if (remote.type !== "ONLINE" || localOnlineNs === undefined) return "ignored";
  return decideReplacement({ onlineNs: localOnlineNs, server: self }, remote) === "replace" ? "replaced" : "kept";
}
