/**
 * Uplink decoding with validation, downlink encoding. Pure functions, no I/O.
 * Uplink: {"t": MsgType, "hb"?: {}, "auth"?: {"token"}, "join"?: {"rid"}}; `type` is an alias of `t`.
 * AUTH may add "positions" and "recover", JOIN "recover" (Part 2: delivery positions and recovery).
 */
import { Close } from "./codes.ts";
import { isObject } from "./json.ts";

export const MsgType = { HB: 0, AUTH: 1, JOIN: 2, PUSH: 3 } as const;
export type MsgType = (typeof MsgType)[keyof typeof MsgType];
export const MSG_TYPE_NAMES = ["HB", "AUTH", "JOIN", "PUSH"] as const;

/** Where a client stands in a stream, as it sends it in `recover`. */
export interface Position {
  epoch: string;
  seq: number;
}

/** `recover`: the streams a client asks to resume, by their kind (u: its user, r: its room, w: the world). */
export interface Recover {
  u?: Position;
  r?: Position;
  w?: Position;
}

export const RECOVER_STREAMS = ["u", "r", "w"] as const;

export type Uplink =
  | { t: typeof MsgType.HB }
  | {
      t: typeof MsgType.AUTH;
      token: string | undefined;
      join: string | undefined;
      /** `"positions": true`: every PUSH of the session carries its position (absent: false). */
      positions?: true;
      recover?: Recover;
    }
  | { t: typeof MsgType.JOIN; rid: string; recover?: Recover };

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

/**
 * proto3 JSON writes a uint64 as a decimal string; a number is read too. A seq past 2^53 is
 * ahead of every stream, however many digits it has (no stream gets there): it is kept as the
 * largest safe integer, which recovers nothing (false). Only its type is refused (4400).
 */
function readSeq(v: unknown): number | undefined {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return Number.isInteger(v) && v >= 0 ? Math.min(v, Number.MAX_SAFE_INTEGER) : undefined;
  if (typeof v !== "string" || !/^\d+$/.test(v)) return undefined;
  // Leading zeros count for nothing; past 16 significant digits it is past 2^53 (16 digits) anyway.
  const digits = v.replace(/^0+(?=\d)/, "");
  return digits.length > 16 ? Number.MAX_SAFE_INTEGER : Math.min(Number(digits), Number.MAX_SAFE_INTEGER);
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A binary frame's text, or undefined when it is not UTF-8. */
export function utf8Text(data: Uint8Array): string | undefined {
  try {
    return utf8.decode(data);
  } catch {
    return undefined;
  }
}

/** Reads `recover` (absent or null: none). A field absent inside it is proto3's default ("", 0). */
function readRecover(v: unknown): Recover | undefined | Decoded {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) return bad("recover must be an object");
  const out: Recover = {};
  for (const key of Object.keys(v)) {
    const p = v[key];
    if (p === undefined || p === null) continue;
    if (key !== "u" && key !== "r" && key !== "w") return bad("recover takes only u, r and w");
    if (!isObject(p)) return bad(`recover.${key} must be an object`);
    const epoch = p.epoch ?? "";
    if (typeof epoch !== "string") return bad(`recover.${key}.epoch must be a string`);
    const seq = readSeq(p.seq);
    if (seq === undefined) return bad(`recover.${key}.seq must be a non-negative integer`);
    out[key] = { epoch, seq };
  }
  return out;
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
      const positions = msg.positions ?? false;
      if (typeof positions !== "boolean") return bad("positions must be true or false");
      const recover = readRecover(msg.recover);
      if (recover && "ok" in recover) return recover as Decoded;
      const frame: Uplink = { t, token, join };
      if (positions) frame.positions = true;
      if (recover) frame.recover = recover as Recover;
      return { ok: true, frame };
    }
    case MsgType.JOIN: {
      const join = readJoin(msg.join);
      if (typeof join === "object") return join;
      const recover = readRecover(msg.recover);
      if (recover && "ok" in recover) return recover as Decoded;
      const frame: Uplink = { t, rid: join ?? "" };
      if (recover) frame.recover = recover as Recover;
      return { ok: true, frame };
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

/** A PUSH frame with its position, for the sessions that asked for positions (Part 2). */
export function encodePushAt(evt: string, stream: string, seq: number, epoch: string): string {
  return `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)},"stream":${JSON.stringify(stream)},"seq":${seq},"epoch":${JSON.stringify(epoch)}}}`;
}

/** The HB that reports a recovery: one key per stream the frame's `recover` named. */
export function encodeRecovered(recovered: Readonly<Record<string, boolean>>): string {
  return `{"t":"HB","hb":{"recovered":${JSON.stringify(recovered)}}}`;
}
