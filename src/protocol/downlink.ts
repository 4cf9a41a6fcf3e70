/**
 * A downlink frame that encodes itself once per wire format, however many sockets receive it: a
 * broadcast to 10,000 sessions over WebSocket and gRPC is one JSON text and one protobuf message.
 * Each transport names its format; the frame keeps what it encoded for the next recipient.
 */
import { encodePush, HB_FRAME } from "./frames.ts";

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
  ) {}

  static push(evt: string): Downlink {
    return new Downlink("PUSH", evt);
  }

  /** The heartbeat probe: one shared frame, encoded once per format for the process's life. */
  static readonly HB = new Downlink("HB", "");

  /** The frame as JSON text: what WebSocket, SSE and NDJSON carry. */
  get json(): string {
    if (this.text === undefined) this.text = this.t === "PUSH" ? encodePush(this.evt) : HB_FRAME;
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
