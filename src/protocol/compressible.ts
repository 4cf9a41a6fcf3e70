/**
 * Whether a downlink frame is worth permessage-deflate (websocket.compression_min_bytes): a small
 * frame deflates to barely less, or more, and costs a compressor pass all the same.
 */

/** Compress nothing: the minimum when websocket.compression is off. */
export const NEVER = Number.POSITIVE_INFINITY;

/**
 * True when `data` has at least `minBytes` bytes on the wire (UTF-8 for text). A string's length
 * bounds its UTF-8 size from below and three times its length from above, so the exact count is
 * only taken between the two: a 2 KiB broadcast is decided by one comparison.
 */
export function worthCompressing(data: string | Uint8Array, minBytes: number): boolean {
  if (typeof data !== "string") return data.byteLength >= minBytes;
  const n = data.length;
  if (n >= minBytes) return true;
  return n * 3 >= minBytes && Buffer.byteLength(data, "utf8") >= minBytes;
}
