/**
 * Uplink decoding with validation, downlink encoding. Pure functions, no I/O.
 * Uplink: {"t": MsgType, "hb"?: {}, "auth"?: {"token"}, "join"?: {"rid"}}; `type` is an alias of `t`.
 */
import { Close } from "./codes.ts";
import { isObject } from "./json.ts";

export const MsgType = { HB: 0, AUTH: 1, JOIN: 2, PUSH: 3 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];
export const MSG_TYPE_NAMES = ["HB", "AUTH", "JOIN", "PUSH"] as const;

export type Uplink =
  | { t: typeof MsgType.HB }
  | { t: typeof MsgType.AUTH; token: string | undefined; join: string | undefined }
  | { t: typeof MsgType.JOIN; rid: string };

export interface DecodeError {
  code: number;
  reason: string;
}

export type Decoded = { ok: true; frame: Uplink } | { ok: false; error: DecodeError };

const bad = (reason: string): Decoded => ({ ok: false, error: { code: Close.BadFrame, reason } });

function readType(v: unknown): number | undefined {
  if (v === undefined || v === null) return MsgType.HB; // proto3 default
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 && v <= 3 ? v : undefined;
  if (typeof v === "string") {
    const i = (MSG_TYPE_NAMES as readonly string[]).indexOf(v);
    return i >= 0 ? i : undefined;
  }
  return undefined;
}

/** Reads `join` (absent or null = leave any room). Returns a Decoded error on a wrong shape. */
function readJoin(v: unknown): string | undefined | Decoded {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return bad("join must be an object");
  const rid = v.rid;
  if (rid === undefined || rid === null) return "";
  if (typeof rid !== "string") return bad("join.rid must be a string");
  return rid;
}

export function decodeUplink(text: string): Decoded {
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return bad("malformed JSON");
  }
  return readUplink(msg);
}

/**
 * The rules of an uplink on an already parsed value: the JSON of a WebSocket frame, or a gRPC
 * Uplink message read as a plain object (enums as numbers, absent message fields undefined or
 * null). One reader for both transports keeps the uplink rules in one place.
 */
export function readUplink(msg: unknown): Decoded {
  if (!isObject(msg)) return bad("frame must be a JSON object");
  const t = readType(msg.t !== undefined ? msg.t : msg.type);
  if (t === undefined) return bad("unknown t");
  if (msg.hb !== undefined && msg.hb !== null && !isObject(msg.hb)) return bad("hb must be an object");
  switch (t) {
    case MsgType.HB:
      return { ok: true, frame: { t } };
    case MsgType.AUTH: {
      const auth = msg.auth;
      let token: string | undefined;
      if (auth !== undefined && auth !== null) {
        if (!isObject(auth)) return bad("auth must be an object");
        if (auth.token !== undefined && auth.token !== null && typeof auth.token !== "string") {
          return bad("auth.token must be a string");
        }
        token = (auth.token as string | undefined) ?? undefined;
      }
      const join = readJoin(msg.join);
      if (typeof join === "object") return join;
      return { ok: true, frame: { t, token, join } };
    }
    case MsgType.JOIN: {
      const join = readJoin(msg.join);
      if (typeof join === "object") return join;
      return { ok: true, frame: { t, rid: join ?? "" } };
    }
    default:
      return bad("PUSH is downlink only");
  }
}

/** The heartbeat probe; one shared string. */
export const HB_FRAME = '{"t":"HB","hb":{}}';

/** A PUSH frame: `evt` escaped once into the frame, never parsed. Encode once per publish. */
export function encodePush(evt: string): string {
  return `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`;
}
