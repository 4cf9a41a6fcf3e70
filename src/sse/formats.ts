/**
 * The two wire formats of an HTTP stream, each encoded once per frame however many readers get it
 * (see Downlink): bytes, because a Response body takes bytes on every runtime, and one TextEncoder
 * pass per frame is cheaper than one per reader.
 */
import { type Downlink, type WireFormat, wireFormat } from "../protocol/downlink.ts";

const utf8 = new TextEncoder();

/** An SSE keep-alive: a comment line, which EventSource reads and ignores. */
const SSE_COMMENT = utf8.encode(":\n\n");

/**
 * Server-Sent Events: each PUSH one event whose data is the PUSH frame's JSON on one line (JSON
 * text escapes CR and LF, the only line ends SSE knows); an HB is a comment.
 */
export const SSE_EVENTS: WireFormat<Uint8Array> = wireFormat("sse", (f: Downlink) =>
  f.t === "HB" ? SSE_COMMENT : utf8.encode(`data: ${f.json}\n\n`),
);

/** NDJSON: one JSON frame per line, HB frames included. */
export const NDJSON_LINES: WireFormat<Uint8Array> = wireFormat("ndjson", (f: Downlink) => utf8.encode(`${f.json}\n`));
