/**
 * The RFC 6455 bytes a bench client writes and looks for: masked text frames (AUTH, the HB answer),
 * the close frame, and the blank line that ends the server's upgrade response.
 */

/** A masked client text frame (mask key 0, so the payload bytes stay as they are). */
export function clientFrame(text: string): Uint8Array {
  const payload = Buffer.from(text);
  const n = payload.length;
  const head = n < 126 ? 6 : n < 65536 ? 8 : 14;
  const out = Buffer.alloc(head + n);
  out[0] = 0x81;
  if (n < 126) out[1] = 0x80 | n;
  else if (n < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  // bytes head-4 .. head-1: the mask key, left 0.
  payload.copy(out, head);
  return out;
}

export const HB_REPLY = clientFrame('{"t":"HB"}');
export const CLOSE_FRAME = (() => {
  const f = Buffer.alloc(8);
  f[0] = 0x88;
  f[1] = 0x82;
  f.writeUInt16BE(1000, 6);
  return f;
})();

export const CRLFCRLF = Buffer.from("\r\n\r\n");
