/**
 * Frames between the core and a gRPC stream. Downlink: the core hands every socket the JSON frame
 * the hub encoded; a gRPC socket needs protobuf bytes. Uplink: protobuf bytes become the same
 * Decoded value a WebSocket text frame becomes, through the one reader of PROTOCOL.md's rules.
 */
import { Close } from "../protocol/codes.ts";
import { type Decoded, HB_FRAME, MSG_TYPE_NAMES, MsgType, readUplink } from "../protocol/frames.ts";
import { DownlinkType, UplinkType } from "./proto.ts";

const asBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

const HB_BYTES = asBuffer(DownlinkType.encode({ t: MsgType.HB, hb: {} }).finish());
const PUSH_PREFIX = '{"t":"PUSH","push":{"evt":';
const PUSH_SUFFIX = "}}";

/**
 * A broadcast hands the same frame string to every recipient in one synchronous loop, so one
 * remembered frame is enough to translate it once per broadcast rather than once per recipient.
 */
let lastFrame: string | undefined;
let lastBytes: Buffer = HB_BYTES;

/** The serialized Downlink for a frame of the core (HB probe or PUSH). */
export function downlinkBytes(frame: string): Buffer {
  if (frame === lastFrame) return lastBytes;
  let bytes: Buffer;
  if (frame === HB_FRAME) bytes = HB_BYTES;
  else if (frame.startsWith(PUSH_PREFIX) && frame.endsWith(PUSH_SUFFIX)) {
    // The frame is {"t":"PUSH","push":{"evt":<JSON string>}}: read back only that string, which
    // gives evt exactly as published (encodePush escaped it once with JSON.stringify).
    const evt = JSON.parse(frame.slice(PUSH_PREFIX.length, -PUSH_SUFFIX.length)) as string;
    bytes = asBuffer(DownlinkType.encode({ t: MsgType.PUSH, push: { evt } }).finish());
  } else bytes = asBuffer(DownlinkType.encode(fromJson(frame)).finish());
  lastFrame = frame;
  lastBytes = bytes;
  return bytes;
}

/** Any other downlink frame, read in full: a frame shape the hub may add later still gets through. */
function fromJson(frame: string): Record<string, unknown> {
  const f = JSON.parse(frame) as { t?: string | number; hb?: object; push?: { evt?: string } };
  const t = typeof f.t === "string" ? (MSG_TYPE_NAMES as readonly string[]).indexOf(f.t) : (f.t ?? 0);
  const out: Record<string, unknown> = { t: Math.max(t, 0) };
  if (f.hb) out.hb = {};
  if (f.push) out.push = { evt: f.push.evt ?? "" };
  return out;
}

/** What a Subscribe stream reads: a decoded uplink, or one over limits.max_uplink_bytes. */
export type UplinkRead = Decoded | { tooBig: number };

/**
 * The request deserializer of Subscribe. The size is checked on the wire bytes before decoding,
 * as the WebSocket transport checks a frame's payload; malformed protobuf is a 4400 like
 * malformed JSON, never an exception inside the gRPC library.
 */
export function uplinkReader(maxUplinkBytes: number): (bytes: Buffer) => UplinkRead {
  return (bytes) => {
    if (bytes.length > maxUplinkBytes) return { tooBig: bytes.length };
    let msg: Record<string, unknown>;
    try {
      msg = UplinkType.toObject(UplinkType.decode(bytes), { enums: Number });
    } catch {
      return { ok: false, error: { code: Close.BadFrame, reason: "malformed protobuf" } };
    }
    return readUplink(msg);
  };
}

/** Downlinks are written as bytes already serialized by downlinkBytes. */
export const passBytes = (b: Buffer): Buffer => b;
