/**
 * What a reader of an HTTP stream writes around a frame's shared bytes. NDJSON writes them as they
 * are. SSE keeps the reader's position in its three streams for each event's `id:` line, and
 * answers a `Last-Event-ID` recovery: what the hub replays is held until its outcome is known, so
 * that a failure is the first event (`event: gap`), before the streams that did recover. When the
 * server ends an SSE stream, its last event says why (`event: close`), as a close code says it on a
 * WebSocket; NDJSON has no such line (the protocol names none), its stream just ends.
 */
import { Downlink } from "../protocol/downlink.ts";
import type { Recover } from "../protocol/frames.ts";
import { encodeEventId } from "../protocol/event-id.ts";
import { bytesOf, type EventBytes } from "./formats.ts";

export type Write = (chunk: Uint8Array) => void;

export interface Framing {
  /** The stream's first bytes, once its session is live at `heads` (each stream's last number). */
  opening(heads: Recover): Uint8Array;
  /** One frame's shared bytes: written (with what this reader adds), or held back a moment. */
  frame(bytes: Uint8Array, write: Write): void;
  /** The last bytes before the server ends the stream with this close code and reason, if any. */
  closing(code: number, reason: string): Uint8Array | undefined;
}

const NDJSON_OPENING = bytesOf(`${Downlink.HB.json}\n`);

/** NDJSON: the frames as they are, after an HB line that tells the reader its stream is up. */
export const NDJSON_FRAMING: Framing = {
  opening: () => NDJSON_OPENING,
  frame: (bytes, write) => write(bytes),
  closing: () => undefined,
};

const kindOf = (stream: string): "u" | "r" | "w" => (stream === "u" ? "u" : stream === "w" ? "w" : "r");

export class SseFraming implements Framing {
  /** Where the reader stands: what its next event id says. */
  private readonly at: Recover = {};
  private heads: Recover = {};
  /** While a recovery runs (within one tick of the hub): the frames it replays. */
  private held: EventBytes[] | null = null;

  /** `resume`: the positions of a Last-Event-ID, when the reader sent one. */
  constructor(private readonly resume: Recover | undefined) {}

  opening(heads: Recover): Uint8Array {
    this.heads = heads;
    Object.assign(this.at, heads);
    if (!this.resume) {
      // An id without data sets the EventSource's last event id and fires no event: a reconnect
      // before the first event still resumes from here.
      return bytesOf(`:\nid: ${encodeEventId(this.at)}\n\n`);
    }
    // The reader's own positions, until the outcome of the recovery says which stand.
    Object.assign(this.at, this.resume);
    this.held = [];
    return bytesOf(":\n\n");
  }

  frame(bytes: Uint8Array, write: Write): void {
    const ev = bytes as EventBytes;
    const f = ev.frame;
    if (f.recovered) {
      this.recovered(f, write);
      return;
    }
    if (f.t !== "PUSH") {
      write(ev);
      return;
    }
    if (this.held) {
      this.held.push(ev);
      return;
    }
    if (f.stream !== "") this.at[kindOf(f.stream)] = { epoch: f.epoch, seq: f.seq };
    write(bytesOf(`id: ${encodeEventId(this.at)}\n`));
    write(ev);
  }

  /**
   * `event: close`, data `{"code":N,"reason":"…"}`: the WebSocket close code the session would have
   * had (4409 replaced, 4401 token expired, 1001 drain, ...). No id: it is no position. The reason
   * is the server's own text, and JSON escapes any line break that would end the event early.
   */
  closing(code: number, reason: string): Uint8Array {
    return bytesOf(`event: close\ndata: ${JSON.stringify({ code, reason })}\n\n`);
  }

  /**
   * The outcome of the recovery: a stream that failed resumes from now (its head when the stream
   * started), announced by `event: gap` with the report as data; then what was replayed.
   */
  private recovered(report: Downlink, write: Write): void {
    const held = this.held ?? [];
    this.held = null;
    const failed = Object.entries(report.recovered ?? {}).filter(([, ok]) => !ok);
    if (failed.length > 0) {
      for (const [k] of failed) {
        const head = this.heads[k as "u" | "r" | "w"];
        if (head) this.at[k as "u" | "r" | "w"] = head;
        else delete this.at[k as "u" | "r" | "w"];
      }
      write(bytesOf(`event: gap\nid: ${encodeEventId(this.at)}\ndata: ${report.json}\n\n`));
    }
    for (const ev of held) this.frame(ev, write);
  }
}
