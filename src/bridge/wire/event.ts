/**
 * What crosses the broker: the Event coming in, user activity going out
 * (and coming back from other instances). Payloads come from anyone who can publish to the broker,
 * so every field is checked and nothing here throws.
 */

import { ACTIVITY_NAMES, type Activity, type ActivityName, isActivityName } from "../../hub/activity.ts";
import {
  type CommandLimits,
  checkRequestSize,
  type Delivery,
  parseJsonObject,
  readEvent,
} from "../../protocol/commands.ts";
import { jsonObjectOf } from "../../protocol/json.ts";
import { activitySignature } from "../../util/signature.ts";

/** Where a forwarded Event stands in its stream's shared log (history.store: redis). */
export interface EventPosition {
  epoch: string;
  seq: number;
}

export type EventResult =
  /**
   * origin: the instance that forwarded it (mqtt.forward_api), when one did; at: the position the
   * shared log gave it, when that instance appended it (history.store: redis).
   */
  | { ok: true; delivery: Delivery; origin?: string; at?: EventPosition }
  | { ok: false; outcome: "invalid" | "too_large"; reason: string };

/** An Event payload from the broker, read by the rules every way in shares. */
export function parseEvent(payload: Uint8Array, limits: CommandLimits): EventResult {
  const big = checkRequestSize(payload.byteLength, "payload", limits);
  if (big) return { ok: false, outcome: "too_large", reason: big.detail };
  const json = parseJsonObject(payload, "payload");
  const read = json.ok ? readEvent(json.value, limits) : json;
  if (read.ok) {
    const { origin, epoch, seq } = (json as { value: Record<string, unknown> }).value;
    if (typeof origin !== "string") return { ok: true, delivery: read.command };
    // A position counts only with an origin: a backend's Event is appended by whoever reads it.
    const positioned = typeof epoch === "string" && epoch !== "" && Number.isSafeInteger(seq) && (seq as number) > 0;
    return positioned
      ? { ok: true, delivery: read.command, origin, at: { epoch, seq: seq as number } }
      : { ok: true, delivery: read.command, origin };
  }
  return {
    ok: false,
    outcome: read.error.code === "bad_request" ? "invalid" : "too_large",
    reason: read.error.detail,
  };
}

/**
 * An Event an instance forwards for its API (mqtt.forward_api): the Event of Part 1 plus `origin`,
 * the forwarding instance's id, by which it knows its own Event when the broker brings it back
 * (MQTT 3.1.1 has no "no local"): it delivered that one already. `at`: its position in the shared
 * log, so that every instance delivers it there and none appends it again.
 */
export function encodeForwarded(d: Delivery, origin: string, at?: EventPosition): string {
  const target = d.kind === "publish" ? { uid: d.uid } : { rid: d.rid };
  return at
    ? JSON.stringify({ ...target, evt: d.evt, origin, epoch: at.epoch, seq: at.seq })
    : JSON.stringify({ ...target, evt: d.evt, origin });
}

/**
 * The activity JSON (docs/protocol.md, "Activity out"): type by name, time as a string of
 * nanoseconds, the sender's id, and with mqtt.cluster_key its signature.
 */
export function encodeActivity(a: Activity, server: string, clusterKey?: string): string {
  const fields = { type: a.type, uid: a.uid, rid: a.rid, time: a.time, server };
  if (!clusterKey) return JSON.stringify(fields);
  return JSON.stringify({ ...fields, sig: activitySignature(clusterKey, fields) });
}

export interface RemoteActivity {
  type: ActivityName;
  uid: string;
  rid: string;
  time: bigint;
  server: string;
  /** The sender's signature, when it sent one (a string; anything else reads as none). */
  sig?: string;
}

/**
 * Activity read back from the broker (ours or another instance's). Accepts what proto3 JSON
 * allows: type by name or number, time as a string or a number. undefined when it is not activity.
 */
export function parseActivity(payload: Uint8Array): RemoteActivity | undefined {
  const o = jsonObjectOf(payload);
  if (!o) return undefined;
  const { type, uid, rid, time, server, sig } = o;
  // Wire numbers start at 1: 0 is UNSPECIFIED, which is no activity.
  const name = typeof type === "number" ? ACTIVITY_NAMES[type - 1] : type;
  if (!isActivityName(name)) return undefined;
  if (typeof uid !== "string" || (rid !== undefined && typeof rid !== "string")) return undefined;
  if (server !== undefined && typeof server !== "string") return undefined;
  let ns: bigint;
  if (typeof time === "string" && /^\d{1,20}$/.test(time)) ns = BigInt(time);
  else if (typeof time === "number" && Number.isFinite(time) && time >= 0) ns = BigInt(Math.round(time));
  else return undefined;
  return {
    type: name,
    uid,
    rid: rid ?? "",
    time: ns,
    server: server ?? "",
    sig: typeof sig === "string" ? sig : undefined,
  };
}
