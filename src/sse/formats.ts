/**
 * The two wire formats of an HTTP stream, each encoded once per frame however many readers get it
 * (see Downlink): bytes, because a Response body takes bytes on every runtime, and one TextEncoder
 * pass per frame is cheaper than one per reader.
 */
import { Downlink, type WireFormat, wireFormat } from "../protocol/downlink.ts";

const utf8 = new TextEncoder();

/**
 * An SSE event's shared bytes, with the frame they encode: each reader writes its own `id:` line
 * before them (the id holds the reader's position in all three of its streams, see event-id.ts).
 */
export type EventBytes = Uint8Array & { readonly frame: Downlink };

const withFrame = (bytes: Uint8Array, frame: Downlink): EventBytes => Object.assign(bytes, { frame });

/** An SSE keep-alive: a comment line, which EventSource reads and ignores. */
const SSE_COMMENT = withFrame(utf8.encode(":\n\n"), Downlink.HB);

/**
 * Server-Sent Events: each PUSH one event whose data is the PUSH frame's JSON on one line (JSON
 * text escapes CR and LF, the only line ends SSE knows); an HB is a comment. A recovery's report
 * has no bytes of its own: the reader turns a failed one into `event: gap`.
 */
export const SSE_EVENTS: WireFormat<EventBytes> = wireFormat("sse", (f: Downlink) => {
  if (f.t === "PUSH") return withFrame(utf8.encode(`data: ${f.json}\n\n`), f);
  return f.recovered ? withFrame(new Uint8Array(0), f) : SSE_COMMENT;
});

/** NDJSON: one JSON frame per line, HB frames included (a recovery's report too). */
export const NDJSON_LINES: WireFormat<Uint8Array> = wireFormat("ndjson", (f: Downlink) => utf8.encode(`${f.json}\n`));

/** A line of text as bytes (an SSE reader's own lines: its event id, its gap event). */
export const bytesOf = (text: string): Uint8Array => utf8.encode(text);
