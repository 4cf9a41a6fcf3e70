import { describe, expect, test } from "bun:test";
import { PacketScanner } from "../../src/bridge/wire/packet-guard.ts";

/** An MQTT packet of the given remaining length: type byte, varint length, zeros. */
function packet(remaining: number, type = 0x30): Buffer {
  const len: number[] = [];
  let n = remaining;
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return Buffer.concat([Buffer.from([type, ...len]), Buffer.alloc(remaining)]);
}

/** What the scanner says of the stream fed in pieces of `step` bytes: the first refusal, else undefined. */
function feed(limit: number, stream: Buffer, step: number): number | undefined {
  const s = new PacketScanner(limit);
  for (let i = 0; i < stream.length; i += step) {
    const got = s.scan(stream.subarray(i, i + step));
    if (got !== undefined) return got;
  }
  return undefined;
}

describe("PacketScanner", () => {
  // Bodies of 0 (PINGREQ), 1, 127 and 128 bytes: one- and two-byte lengths, and a two-byte header at the edge.
  const stream = Buffer.concat([packet(0, 0xc0), packet(1), packet(127), packet(128), packet(0, 0xc0), packet(300)]);

  test("follows packet boundaries however the bytes are split", () => {
    for (const step of [1, 2, 3, 7, 64, stream.length]) expect(feed(303, stream, step)).toBeUndefined();
  });

  test("a packet of exactly the limit passes; one byte more is refused with its whole size", () => {
    for (const step of [1, 5, 1000]) {
      expect(feed(303, packet(300), step)).toBeUndefined();
      expect(feed(303, Buffer.concat([stream, packet(301)]), step)).toBe(304);
    }
  });

  test("refuses from the header alone, before any of the payload has come", () => {
    const s = new PacketScanner(1024);
    expect(s.scan(Buffer.from([0x10, 0x0a]))).toBeUndefined();
    expect(s.scan(Buffer.alloc(10))).toBeUndefined();
    // 250 MB announced: 0x30, then the four length bytes, and nothing after.
    const header = packet(0).subarray(0, 1);
    const big = 250_000_000;
    const len = [(big % 128) | 0x80, ((big >> 7) % 128) | 0x80, ((big >> 14) % 128) | 0x80, big >> 21];
    expect(s.scan(Buffer.concat([header, Buffer.from(len)]))).toBe(1 + 4 + big);
  });

  test("the first packet (the CONNECT) has a limit of its own; the packets after it the usual one", () => {
    for (const step of [1, 3, 1000]) {
      const scanner = new PacketScanner(1024, 100);
      let refused: number | undefined;
      const bytes = Buffer.concat([packet(97), packet(300)]);
      for (let i = 0; i < bytes.length && refused === undefined; i += step)
        refused = scanner.scan(bytes.subarray(i, i + step));
      expect(refused).toBeUndefined();
      const first = new PacketScanner(1024, 100);
      expect(first.scan(packet(99))).toBe(101);
      expect(first.atFirst).toBe(true);
    }
  });

  test("a fifth length byte is refused", () => {
    expect(new PacketScanner(1024).scan(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff]))).toBe(Number.POSITIVE_INFINITY);
  });
});
