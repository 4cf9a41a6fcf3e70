/**
 * A limit on the size of the MQTT packets one connection may send to the embedded broker. aedes
 * reads with mqtt-packet, which has no limit and holds a packet whole until its last byte: one
 * client announcing 256 MB could make the process hold 256 MB. The guard reads each packet's
 * fixed header as the bytes go by (the type byte, then the remaining length, a varint of up to
 * four bytes) and ends the connection as soon as a packet announces more than the limit, so that
 * no more than the limit is ever held for it. The first packet, which must be a CONNECT and comes
 * from anyone who reaches the port, has a limit of its own, a few KiB: until a client has
 * connected it is a stranger, and many strangers at once must cost little.
 */
import type { Socket } from "node:net";

/** Follows packet boundaries across reads; keeps a few numbers, never the bytes. */
export class PacketScanner {
  /** Bytes of the current packet's body still to come; -1 while reading a fixed header. */
  private body = -1;
  /** Varint bytes read of the current header; -1 before its type byte. */
  private lengthBytes = -1;
  private length = 0;
  /** No packet's header read whole yet: the next is the first, the CONNECT. */
  private first = true;

  constructor(
    private readonly maxBytes: number,
    private readonly firstMaxBytes = maxBytes,
  ) {}

  /** True until the first packet's size is known (and past it, when that size was refused). */
  get atFirst(): boolean {
    return this.first;
  }

  /** The size a packet in chunk announces past the limit (whole packet, header included), else undefined. */
  scan(chunk: Uint8Array): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.body > 0) {
        const n = Math.min(this.body, chunk.length - i);
        this.body -= n;
        i += n;
        continue;
      }
      if (this.lengthBytes === -1) {
        i++; // the type and flags
        this.lengthBytes = 0;
        this.length = 0;
        this.body = -1;
        continue;
      }
      const b = chunk[i++] as number;
      this.length += (b & 0x7f) * 128 ** this.lengthBytes;
      this.lengthBytes++;
      if (b & 0x80) {
        // A fifth length byte is malformed; mqtt-packet would refuse it, but only once it came.
        if (this.lengthBytes === 4) return Number.POSITIVE_INFINITY;
        continue;
      }
      const total = 1 + this.lengthBytes + this.length;
      if (total > (this.first ? Math.min(this.firstMaxBytes, this.maxBytes) : this.maxBytes)) return total;
      this.first = false;
      this.body = this.length;
      this.lengthBytes = -1;
    }
    return undefined;
  }
}

/**
 * Puts the scanner in front of whoever reads the socket (aedes reads it with read() on
 * 'readable'): a chunk that announces a packet too large is never handed over, and the socket is
 * destroyed at once.
 */
export function guardPackets(
  socket: Socket,
  limits: { maxBytes: number; connectMaxBytes: number },
  /** first: the refused packet was the connection's first (its CONNECT). */
  refused: (announced: number, first: boolean) => void,
): void {
  const scanner = new PacketScanner(limits.maxBytes, limits.connectMaxBytes);
  const read = socket.read.bind(socket);
  socket.read = (size?: number) => {
    if (socket.destroyed) return null;
    let chunk = read(size) as Buffer | string | null;
    if (chunk === null || typeof chunk === "string") return chunk;
    // read() with no size should hand over all that is buffered. Under Deno it can leave a full
    // buffer behind and then never emit 'readable' again; aedes, which reads once per 'readable',
    // would then wait forever for the rest of any packet over a few hundred KB.
    while (size === undefined || size === null) {
      const more = socket.readableLength > 0 ? (read() as Buffer | null) : null;
      if (more === null || typeof more === "string") break;
      chunk = Buffer.concat([chunk, more]);
    }
    const announced = scanner.scan(chunk);
    if (announced === undefined) return chunk;
    socket.destroy();
    refused(announced, scanner.atFirst);
    return null;
  };
}
