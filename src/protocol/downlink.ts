/**
 * A downlink frame that encodes itself once per wire format, however many sockets receive it: a
 * broadcast to 10,000 sessions over WebSocket and gRPC is one JSON text and one protobuf message.
 * Each transport names its format; the frame keeps what it encoded for the next recipient.
 */
import { encodePush, encodePushAt, encodeRecovered, HB_FRAME } from "./frames.ts";

export interface WireFormat<T> {
  readonly name: string;
  /** Index of this format's cache entry on a frame. */
  readonly slot: number;
  encode(frame: Downlink): T;
}

let nextSlot = 1; // slot 0 is JSON text, kept in a field of its own

/** A wire format of a transport (e.g. protobuf for gRPC); made once per format, at module load. */
export function wireFormat<T>(name: string, encode: (frame: Downlink) => T): WireFormat<T> {
  return { name, slot: nextSlot++, encode };
}

export class Downlink {
  private text: string | undefined;
  private other: unknown[] | undefined;

  private constructor(
    readonly t: "HB" | "PUSH",
    /** The PUSH's evt, byte for byte as published ("" for HB). */
    readonly evt: string,
    /** A positioned PUSH's stream ("u", "w", "r:<rid>"); "" for a PUSH without position. */
    readonly stream = "",
    readonly seq = 0,
    readonly epoch = "",
    /** An HB that reports a recovery. */
    readonly recovered?: Readonly<Record<string, boolean>>,
  ) {}

  /** A PUSH as Part 1 has it: no field a strict client does not know. */
  static push(evt: string): Downlink {
    return new Downlink("PUSH", evt);
  }

  /** A PUSH with its position in its stream, for the sessions that asked for positions. */
  static pushAt(evt: string, stream: string, seq: number, epoch: string): Downlink {
    return new Downlink("PUSH", evt, stream, seq, epoch);
  }

  /** The HB that ends a recovery: for each stream named, whether it was recovered. */
  static recoveredReport(recovered: Readonly<Record<string, boolean>>): Downlink {
    return new Downlink("HB", "", "", 0, "", recovered);
  }

  /** The heartbeat probe: one shared frame, encoded once per format for the process's life. */
  static readonly HB = new Downlink("HB", "");

  /** The frame as JSON text: what WebSocket, SSE and NDJSON carry. */
  get json(): string {
    if (this.text === undefined) {
      if (this.t === "HB") this.text = this.recovered ? encodeRecovered(this.recovered) : HB_FRAME;
      else if (this.stream === "") this.text = encodePush(this.evt);
      else this.text = encodePushAt(this.evt, this.stream, this.seq, this.epoch);
    }
    return this.text;
  }

  encoded<T>(format: WireFormat<T>): T {
    if (format === JSON_TEXT) return this.json as T;
    this.other ??= [];
    let v = this.other[format.slot] as T | undefined;
    if (v === undefined) {
      v = format.encode(this);
      this.other[format.slot] = v;
    }
    return v;
  }
}

/** JSON text frames: the WebSocket format, and the default of a socket that names none. */
export const JSON_TEXT: WireFormat<string> = { name: "json", slot: 0, encode: (f) => f.json };
