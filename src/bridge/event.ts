/**
 * What crosses the broker: the Event of comet-events.md coming in, UserActivityEvent going out
 * (and coming back from other instances). Payloads come from anyone who can publish to the broker,
 * so every field is checked and nothing here throws.
 */
import type { Activity, ActivityName } from "../hub/activity.ts";
import { ActivityType } from "../hub/activity.ts";

export interface Event {
  uid: string;
  rid: string;
  evt: string;
}

export type EventResult = { ok: true; event: Event } | { ok: false; outcome: "invalid" | "too_large"; reason: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export interface EventLimits {
  maxPayloadBytes: number;
  maxEvtBytes: number;
}

export function parseEvent(payload: Uint8Array, limits: EventLimits): EventResult {
  if (payload.byteLength > limits.maxPayloadBytes) {
    return {
      ok: false,
      outcome: "too_large",
      reason: `payload over ${limits.maxPayloadBytes} bytes (limits.max_body_bytes)`,
    };
  }
  let text: string;
  try {
    text = utf8.decode(payload);
  } catch {
    return { ok: false, outcome: "invalid", reason: "payload is not UTF-8" };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, outcome: "invalid", reason: "payload is not JSON" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    return { ok: false, outcome: "invalid", reason: `expected a JSON object {uid?, rid?, evt}, got ${kindOf(v)}` };
  }
  const o = v as Record<string, unknown>;
  for (const key of ["uid", "rid"] as const) {
    if (o[key] !== undefined && typeof o[key] !== "string") {
      return { ok: false, outcome: "invalid", reason: `${key}: expected a string, got ${kindOf(o[key])}` };
    }
  }
  if (typeof o.evt !== "string") {
    return {
      ok: false,
      outcome: "invalid",
      reason: o.evt === undefined ? "evt: missing" : `evt: expected a string, got ${kindOf(o.evt)}`,
    };
  }
  // evt takes at most as many UTF-8 bytes as the JSON that holds it, so small payloads skip the count.
  if (payload.byteLength > limits.maxEvtBytes && Buffer.byteLength(o.evt, "utf8") > limits.maxEvtBytes) {
    return { ok: false, outcome: "too_large", reason: `evt over ${limits.maxEvtBytes} bytes (limits.max_evt_bytes)` };
  }
  return {
    ok: true,
    event: { uid: (o.uid as string | undefined) ?? "", rid: (o.rid as string | undefined) ?? "", evt: o.evt },
  };
}

function kindOf(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  return typeof v === "object" ? "an object" : `a ${typeof v}`;
}

/** The activity JSON of PROTOCOL.md: type by name, time as a string of nanoseconds, the sender's id. */
export function encodeActivity(a: Activity, server: string): string {
  return JSON.stringify({ type: a.type, uid: a.uid, rid: a.rid, time: a.time, server });
}

export interface RemoteActivity {
  type: ActivityName;
  uid: string;
  rid: string;
  time: bigint;
  server: string;
}

const NAMES = Object.keys(ActivityType) as Array<keyof typeof ActivityType>;

/**
 * Activity read back from the broker (ours or another instance's). Accepts what proto3 JSON
 * allows: type by name or number, time as a string or a number. undefined when it is not activity.
 */
export function parseActivity(payload: Uint8Array): RemoteActivity | undefined {
  let o: unknown;
  try {
    o = JSON.parse(utf8.decode(payload));
  } catch {
    return undefined;
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) return undefined;
  const { type, uid, rid, time, server } = o as Record<string, unknown>;
  const name = typeof type === "number" ? NAMES[type] : type;
  if (typeof name !== "string" || name === "UNSPECIFIED" || !Object.hasOwn(ActivityType, name)) return undefined;
  if (typeof uid !== "string" || (rid !== undefined && typeof rid !== "string")) return undefined;
  if (server !== undefined && typeof server !== "string") return undefined;
  let ns: bigint;
  if (typeof time === "string" && /^\d{1,20}$/.test(time)) ns = BigInt(time);
  else if (typeof time === "number" && Number.isFinite(time) && time >= 0) ns = BigInt(Math.round(time));
  else return undefined;
  return { type: name as ActivityName, uid, rid: rid ?? "", time: ns, server: server ?? "" };
}
