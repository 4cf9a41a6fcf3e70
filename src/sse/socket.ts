/**
 * An HTTP stream (SSE or NDJSON) as the core's PushSocket. Until its session is live it holds the
 * HTTP answer: a close then becomes a status (4401 → 401, 4403 → 403, ...) and no stream byte is
 * sent. Once live, the answer is a streaming body; frames queue in its ReadableStream, which the
 * runtime drains as the client reads.
 */
import { Close } from "../protocol/codes.ts";
import type { WireFormat } from "../protocol/downlink.ts";
import { errorResponse } from "../protocol/errors.ts";
import type { Recover } from "../protocol/frames.ts";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import { LoopSocket } from "../runtime/loop-socket.ts";
import type { Framing } from "./framing.ts";

export type StreamKind = "sse" | "ndjson";

const CONTENT_TYPE: Record<StreamKind, string> = {
  sse: "text/event-stream; charset=utf-8",
  ndjson: "application/x-ndjson",
};

/** A close before the stream started, as an HTTP status and error id. */
const HTTP_CLOSE: Record<number, { status: number; id: string }> = {
  [Close.Unauthorized]: { status: 401, id: "unauthorized" },
  [Close.Forbidden]: { status: 403, id: "forbidden" },
  [Close.Overloaded]: { status: 503, id: "too_many_connections" },
  [Close.GoingAway]: { status: 503, id: "shutting_down" },
  [Close.RateLimited]: { status: 429, id: "rate_limited" },
  [Close.Timeout]: { status: 503, id: "auth_timeout" },
};

/** A queued chunk's size: its bytes (one function for every stream, not a closure each). */
const byteSize = (chunk: Uint8Array | undefined): number => chunk?.byteLength ?? 0;

export class StreamSocket extends LoopSocket {
  readonly oneWay = true;
  /** Every PUSH carries its position (the contract: SSE and NDJSON sessions always do). */
  readonly positions = true;
  sent = 0;
  /** The HTTP answer: an error status, or the stream once the session is live. */
  readonly response: Promise<Response>;
  private answer!: (r: Response) => void;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private readonly body: ReadableStream<Uint8Array>;
  private answered = false;

  constructor(
    readonly transport: StreamKind,
    readonly format: WireFormat<Uint8Array>,
    private readonly framing: Framing,
    fanout: LoopFanout,
    maxSendBuffer: number,
    private readonly headers: Record<string, string>,
  ) {
    super(fanout, maxSendBuffer);
    this.response = new Promise((resolve) => {
      this.answer = resolve;
    });
    // The queue's size is its bytes: desiredSize goes below 0 once more than max_send_buffer waits.
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        // The client went away (or the runtime gave up on the response).
        cancel: () => this.gone(),
      },
      { highWaterMark: maxSendBuffer, size: byteSize },
    );
  }

  started(heads: Recover): void {
    if (this.answered || this.ended) return;
    this.answered = true;
    // First bytes at once: Bun sends the headers with the first chunk, and a client should know
    // its stream is up without waiting for a heartbeat.
    this.write(this.framing.opening(heads));
    this.answer(
      new Response(this.body, {
        headers: {
          "content-type": CONTENT_TYPE[this.transport],
          // Neither a cache nor a buffering proxy (nginx reads x-accel-buffering) may hold events back.
          "cache-control": "no-cache, no-store",
          "x-accel-buffering": "no",
          ...this.headers,
        },
      }),
    );
  }

  send(bytes: Uint8Array): void {
    if (this.ended) return;
    // What is already queued decides, as for a WebSocket: one frame larger than the limit still
    // goes to a client that keeps up.
    const room = this.controller.desiredSize;
    if (room !== null && room < 0) {
      this.dropSlowConsumer();
      return;
    }
    this.sent++;
    this.framing.frame(bytes, this.write);
  }

  private readonly write = (chunk: Uint8Array): void => {
    this.controller.enqueue(chunk);
  };

  /**
   * Before the stream started: the answer is the close code as an HTTP status. After: the stream
   * ends after what is queued, SSE's with an `event: close` that carries the code and reason
   * (framing.ts), which an HTTP stream has no other way to tell its reader.
   */
  close(code?: number, reason?: string): void {
    if (this.ended) return;
    this.release();
    if (!this.answered) {
      this.answered = true;
      const h = HTTP_CLOSE[code ?? 0] ?? { status: 400, id: "bad_request" };
      this.answer(errorResponse(h.status, h.id, reason ?? ""));
      return;
    }
    try {
      // Past max_send_buffer too: a few bytes more, and the reader learns why.
      const last = this.framing.closing(code ?? 1000, reason ?? "");
      if (last) this.write(last);
      this.controller.close();
    } catch {
      // Already errored or cancelled by the runtime.
    }
  }

  /** Aborts the response at once: nothing queued is kept or sent. */
  terminate(): void {
    if (this.ended) return;
    this.release();
    if (!this.answered) {
      this.answered = true;
      this.answer(errorResponse(503, "unavailable", "stream ended"));
      return;
    }
    try {
      this.controller.error(new Error("comet: stream terminated"));
    } catch {
      // Already gone.
    }
  }

  /** The client went away: no more writes, and the session ends. */
  gone(): void {
    if (this.ended) return;
    this.release();
    this.events?.onClosed(1006, "stream closed by the client, or connection lost");
  }
}
