/**
 * Frames between the core and a gRPC stream. Downlink: the protobuf wire format of a Downlink
 * frame, encoded once per frame however many streams receive it. Uplink: protobuf bytes become the
 * same Decoded value a WebSocket text frame becomes, through the one reader of the uplink rules.
 */
import { Close } from "../protocol/codes.ts";
import { type Downlink, wireFormat } from "../protocol/downlink.ts";
import { type Decoded, MsgType, readUplink } from "../protocol/frames.ts";
import { DownlinkType, UplinkType } from "./proto.ts";

const asBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

// A PUSH without position is written as Part 1 wrote it: protobufjs writes a field that is set
// even to its default, so the position fields are left out, not set to "" and 0.
const pushOf = (f: Downlink) =>
  f.stream === "" ? { evt: f.evt } : { evt: f.evt, stream: f.stream, seq: f.seq, epoch: f.epoch };

const encodeDownlink = (f: Downlink): Buffer =>
  asBuffer(
    DownlinkType.encode(
      f.t === "PUSH"
        ? { t: MsgType.PUSH, push: pushOf(f) }
        : { t: MsgType.HB, hb: f.recovered ? { recovered: f.recovered } : {} },
    ).finish(),
  );

/** comet.Downlink in protobuf's binary encoding: the format of a gRPC Subscribe stream. */
export const PROTOBUF = wireFormat<Buffer>("protobuf", encodeDownlink);

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
      msg = UplinkType.toObject(UplinkType.decode(bytes), { enums: Number, longs: String });
    } catch {
      return { ok: false, error: { code: Close.BadFrame, reason: "malformed protobuf" } };
    }
    return readUplink(msg);
  };
}

/** Downlinks are written as bytes already serialized in the PROTOBUF format. */
export const passBytes = (b: Buffer): Buffer => b;
