/**
 * The bench's evt: "<seq>.<send time in µs>." padded with "x" to a fixed size (100 bytes by
 * default). A receiver reads seq and time straight from the frame's bytes, without decoding it.
 */
export const EVT_BYTES = 100;

/** The bytes every PUSH frame starts with, up to the first byte of evt. */
export const PUSH_PREFIX = '{"t":"PUSH","push":{"evt":"';

export function makeEvt(seq: number, tUs: number, size = EVT_BYTES): string {
  const head = `${seq}.${tUs}.`;
  return head.length >= size ? head : head + "x".repeat(size - head.length);
}

/** The frame Comet sends for an evt (what the floor server is asked to publish, byte for byte). */
export const pushFrame = (evt: string): string => `${PUSH_PREFIX}${evt}"}}`;

const DOT = 0x2e;

/**
 * Reads seq and send time from a PUSH frame's payload in buf[start, start+len).
 * Returns false when the payload is not a bench PUSH.
 */
export function readEvt(buf: Uint8Array, start: number, len: number, out: { seq: number; t: number }): boolean {
  let i = start + PUSH_PREFIX.length;
  const end = start + len;
  if (i >= end || buf[start + 6] !== 0x50 /* P */) return false;
  let seq = 0;
  let c = buf[i] as number;
  while (c !== DOT) {
    if (c < 0x30 || c > 0x39 || i >= end) return false;
    seq = seq * 10 + (c - 0x30);
    c = buf[++i] as number;
  }
  let t = 0;
  c = buf[++i] as number;
  while (c !== DOT) {
    if (c < 0x30 || c > 0x39 || i >= end) return false;
    t = t * 10 + (c - 0x30);
    c = buf[++i] as number;
  }
  out.seq = seq;
  out.t = t;
  return true;
}
