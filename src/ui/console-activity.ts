/**
 * The console's live activity (GET /console/activity): the hub's activity as Server-Sent Events,
 * one `data:` line of JSON `{type, uid, rid, time, server}` per event. Bounded twice: at most
 * `readers` streams at once (one more is answered 503), and each holds at most `queued` bytes its
 * reader has not taken; past that the reader is dropped (its stream errors and ends), so a slow
 * console never holds the instance's memory. The hub is listened to only while a stream is open,
 * and never for HEARD (one per uplink frame).
 */
import type { Activity } from "../hub/activity.ts";

export interface ActivityLimits {
  /** Streams open at once. */
  readers: number;
  /** Bytes queued for one reader before it is dropped. */
  queued: number;
  /** A comment line this often, so that neither Bun (10 s idle timeout per request) nor a proxy cuts a quiet stream. */
  keepaliveMs: number;
}

export const ACTIVITY_LIMITS: ActivityLimits = { readers: 16, queued: 256 * 1024, keepaliveMs: 5_000 };

/** How the streams reach the hub's activity: answers how to stop listening. */
export type ActivitySource = (listener: (a: Activity) => void) => () => void;

const encoder = new TextEncoder();
const KEEPALIVE = encoder.encode(":\n\n");
const byteSize = (chunk: Uint8Array | undefined): number => chunk?.byteLength ?? 0;

interface Reader {
  controller: ReadableStreamDefaultController<Uint8Array>;
}

export class ActivityStreams {
  private readonly readers = new Set<Reader>();
  private unlisten: (() => void) | undefined;
  private keepalive: ReturnType<typeof setInterval> | undefined;
  /** Readers dropped for being slow (tests, and the log's count). */
  dropped = 0;

  constructor(
    private readonly source: ActivitySource,
    /** This instance's id: each event's `server`. */
    private readonly server: string,
    private readonly limits: ActivityLimits = ACTIVITY_LIMITS,
  ) {}

  get size(): number {
    return this.readers.size;
  }

  /** A new stream, or undefined when as many as allowed are open. */
  open(): ReadableStream<Uint8Array> | undefined {
    if (this.readers.size >= this.limits.readers) return undefined;
    let reader: Reader | undefined;
    const stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          reader = { controller };
          this.add(reader);
          // First bytes at once: the response's headers go with them.
          controller.enqueue(encoder.encode(": comet activity\n\n"));
        },
        cancel: () => {
          if (reader) this.remove(reader);
        },
      },
      { highWaterMark: this.limits.queued, size: byteSize },
    );
    return stream;
  }

  /** Ends every stream (before the runtime stops: it waits for open responses). */
  closeAll(): void {
    for (const r of [...this.readers]) {
      this.remove(r);
      try {
        r.controller.close();
      } catch {
        // already errored or closed
      }
    }
  }

  private add(r: Reader): void {
    this.readers.add(r);
    if (this.readers.size > 1) return;
    this.unlisten = this.source((a) => this.send(encoder.encode(`data: ${this.line(a)}\n\n`)));
    this.keepalive = setInterval(() => this.send(KEEPALIVE), this.limits.keepaliveMs);
    (this.keepalive as { unref?: () => void }).unref?.();
  }

  private remove(r: Reader): void {
    if (!this.readers.delete(r) || this.readers.size > 0) return;
    this.unlisten?.();
    this.unlisten = undefined;
    clearInterval(this.keepalive);
    this.keepalive = undefined;
  }

  private line(a: Activity): string {
    return JSON.stringify({ type: a.type, uid: a.uid, rid: a.rid, time: a.time, server: this.server });
  }

  private send(bytes: Uint8Array): void {
    for (const r of [...this.readers]) {
      r.controller.enqueue(bytes);
      if ((r.controller.desiredSize ?? 0) >= 0) continue;
      // A slow reader: dropped, and what it had not read with it.
      this.dropped++;
      this.remove(r);
      r.controller.error(new Error("slow reader: over the console's activity queue"));
    }
  }
}
