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

/**
 * An evt of exactly `size` bytes like an application's JSON: the seq/time head, then a JSON order
 * with line items whose values vary with seq, as real data does (a run of "x" would deflate a
 * thousandfold and flatter compression), and a note that pads it to size. ASCII only, so its
 * length is its size in bytes. Sizes below the head and an empty order give just the head.
 */
export function makeJsonEvt(seq: number, tUs: number, size: number): string {
  const head = `${seq}.${tUs}.`;
  let s = ((seq + 1) * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % 100000;
  };
  const order = `{"type":"order.updated","order":${next()},"customer":"c-${next()}","status":"packed","items":[`;
  const tail = '],"note":"';
  const items: string[] = [];
  const room = () => size - head.length - order.length - items.join(",").length - tail.length - 2;
  for (let i = 0; ; i++) {
    const item = JSON.stringify({
      sku: `SKU-${next()}`,
      name: ITEM_NAMES[i % ITEM_NAMES.length],
      qty: next() % 20,
      price: next() / 100,
      warehouse: `wh-${next() % 12}`,
    });
    if (room() - item.length - (items.length > 0 ? 1 : 0) < 0) break;
    items.push(item);
  }
  const pad = room();
  if (pad < 0) return head;
  return `${head}${order}${items.join(",")}${tail}${NOTE.repeat(Math.ceil(pad / NOTE.length)).slice(0, pad)}"}`;
}

const ITEM_NAMES = ["espresso beans 1kg", "paper filters", "ceramic mug", "milk frother", "grinder burr set"];
const NOTE = "leave at the back door, ring twice. ";

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
