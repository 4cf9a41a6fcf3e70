/**
 * An HTTP stream subscriber for tests (SSE or NDJSON over fetch): records every event, comment
 * and line as it arrives, and when the stream ends.
 */
import { settleFor } from "./remote.ts";
import { Arrivals } from "./arrivals.ts";

export interface SseEvent {
  event: string;
  data: string;
  id: string | undefined;
}

export interface StreamOptions {
  kind?: "sse" | "ndjson";
  /** Sent as Authorization: Bearer. */
  bearer?: string;
  /** The path and query, e.g. /comet/sse?token=...&rid=r. */
  path: string;
  headers?: Record<string, string>;
}

export class StreamClient {
  readonly events: SseEvent[] = [];
  /** NDJSON: every line parsed. */
  readonly lines: Array<Record<string, unknown>> = [];
  /** The last SSE event id seen: what an EventSource would send back as Last-Event-ID. */
  lastId: string | undefined;
  /** SSE comment lines (":" and what follows). */
  comments = 0;
  /** Every byte received, as text. */
  text = "";
  status = 0;
  headers: Headers | undefined;
  /** The error body of a refused stream. */
  body = "";
  ended = false;
  private readonly abort = new AbortController();
  private readonly arrivals = new Arrivals();
  readonly opened: Promise<void>;
  readonly done: Promise<void>;

  constructor(
    base: string,
    private readonly o: StreamOptions,
  ) {
    const headers: Record<string, string> = { ...o.headers };
    if (o.kind === "ndjson") headers.accept = "application/x-ndjson";
    else headers.accept ??= "text/event-stream";
    if (o.bearer !== undefined) headers.authorization = `Bearer ${o.bearer}`;
    let resolveOpened: () => void = () => {};
    this.opened = new Promise((r) => {
      resolveOpened = r;
    });
    this.done = (async () => {
      try {
        const res = await fetch(`${base}${o.path}`, { headers, signal: this.abort.signal });
        this.status = res.status;
        this.headers = res.headers;
        resolveOpened();
        if (res.status !== 200) {
          this.body = await res.text();
          return;
        }
        const decoder = new TextDecoder();
        for await (const chunk of res.body as ReadableStream<Uint8Array>) {
          this.take(decoder.decode(chunk, { stream: true }));
        }
      } catch {
        // Aborted by close(), or the server cut the connection.
      } finally {
        resolveOpened();
        this.ended = true;
        await settleFor(base.replace("http", "ws"));
        this.arrivals.wake();
      }
    })();
  }

  private buf = "";
  private take(s: string): void {
    this.text += s;
    this.buf += s;
    if (this.o.kind === "ndjson") {
      let i = this.buf.indexOf("\n");
      while (i >= 0) {
        this.lines.push(JSON.parse(this.buf.slice(0, i)));
        this.buf = this.buf.slice(i + 1);
        i = this.buf.indexOf("\n");
      }
    } else {
      let i = this.buf.indexOf("\n\n");
      while (i >= 0) {
        this.block(this.buf.slice(0, i));
        this.buf = this.buf.slice(i + 2);
        i = this.buf.indexOf("\n\n");
      }
    }
    this.arrivals.wake();
  }

  private block(block: string): void {
    const e: SseEvent = { event: "message", data: "", id: undefined };
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) this.comments++;
      else if (line.startsWith("data: ")) data.push(line.slice(6));
      else if (line.startsWith("event: ")) e.event = line.slice(7);
      else if (line.startsWith("id: ")) e.id = line.slice(4);
    }
    // As EventSource does: an id sets the last event id even on a block without data.
    if (e.id !== undefined) this.lastId = e.id;
    if (data.length > 0) {
      e.data = data.join("\n");
      this.events.push(e);
    }
  }

  /** The evt of every PUSH so far (SSE events or NDJSON lines). */
  pushes(): string[] {
    const frames = this.o.kind === "ndjson" ? this.lines : this.events.map((e) => JSON.parse(e.data));
    return frames.filter((f) => f.t === "PUSH").map((f) => (f.push as { evt: string }).evt);
  }

  async until(pred: () => boolean, ms = 3000, what = "condition"): Promise<void> {
    await this.arrivals.until(pred, ms, what, () => `received: ${JSON.stringify(this.text)}`);
  }

  async waitPushes(n: number, ms = 3000): Promise<string[]> {
    await this.until(() => this.pushes().length >= n, ms, `${n} pushes`);
    return this.pushes();
  }

  async waitEnd(ms = 3000): Promise<void> {
    await this.until(() => this.ended, ms, "the stream to end");
  }

  close(): void {
    this.abort.abort();
  }
}
