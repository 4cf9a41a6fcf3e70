/**
 * A WebSocket client on a bare TCP socket, for what a WebSocket library hides: the handshake's
 * response headers, each frame's RSV1 bit (set = the frame is permessage-deflate compressed) and
 * its size on the wire, and uplink frames a library would never send (a decompression bomb).
 */
import net from "node:net";
import zlib from "node:zlib";

export interface RawFrame {
  opcode: number;
  /** RSV1: the payload is deflated (RFC 7692). */
  compressed: boolean;
  /** Payload bytes as they crossed the wire. */
  wireBytes: number;
  /** The payload, inflated when compressed; for a close frame, the code and reason. */
  text: string;
  closeCode?: number;
}

/** The four bytes RFC 7692 §7.2.1 strips from the end of every compressed message. */
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** Inflates one message: the server is told not to keep context between messages (see bun.ts). */
export const inflateMessage = (payload: Buffer): Buffer =>
  zlib.inflateRawSync(Buffer.concat([payload, TAIL]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });

/** A message deflated the way a client sends it: the sync-flush tail stripped. */
export function deflateMessage(payload: Buffer): Buffer {
  const out = zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  if (!out.subarray(-4).equals(TAIL)) throw new Error("deflate did not end with a sync flush");
  return out.subarray(0, -4);
}

/** One masked client frame (FIN set); `rsv1` marks the payload as deflated. */
export function maskedFrame(payload: Buffer, opts: { rsv1?: boolean; opcode?: number } = {}): Buffer {
  const n = payload.length;
  const b0 = 0x80 | (opts.rsv1 ? 0x40 : 0) | (opts.opcode ?? 1);
  let head: Buffer;
  if (n < 126) head = Buffer.from([b0, 0x80 | n]);
  else if (n < 65536) head = Buffer.from([b0, 0x80 | 126, n >> 8, n & 0xff]);
  else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = 0x80 | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  const mask = Buffer.from([0x5a, 0x13, 0xc7, 0x2e]);
  const body = Buffer.alloc(n);
  for (let i = 0; i < n; i++) body[i] = (payload[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([head, mask, body]);
}

export class RawWebSocket {
  readonly frames: RawFrame[] = [];
  /** The upgrade response's headers, names in lower case. */
  readonly headers = new Map<string, string>();
  status = 0;
  ended = false;
  private buf = Buffer.alloc(0);
  private upgraded = false;

  private constructor(private readonly sock: net.Socket) {}

  /** Connects and upgrades; `extensions` is the Sec-WebSocket-Extensions offer, if any. */
  static async open(port: number, path: string, extensions?: string): Promise<RawWebSocket> {
    const sock = net.connect(port, "127.0.0.1");
    const ws = new RawWebSocket(sock);
    await new Promise<void>((resolve, reject) => {
      sock.once("connect", resolve);
      sock.once("error", reject);
    });
    const upgraded = new Promise<void>((resolve, reject) => {
      sock.on("data", (d: Buffer) => {
        ws.read(d);
        if (ws.upgraded) resolve();
      });
      sock.once("close", () => {
        ws.ended = true;
        reject(new Error(`connection closed before the upgrade (status ${ws.status})`));
      });
    });
    sock.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        (extensions ? `Sec-WebSocket-Extensions: ${extensions}\r\n` : "") +
        "\r\n",
    );
    await upgraded;
    return ws;
  }

  /** The negotiated extensions ("" when none). */
  get extensions(): string {
    return this.headers.get("sec-websocket-extensions") ?? "";
  }

  private read(d: Buffer): void {
    this.buf = Buffer.concat([this.buf, d]);
    if (!this.upgraded) {
      const end = this.buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const [statusLine, ...lines] = this.buf.subarray(0, end).toString("latin1").split("\r\n");
      this.status = Number(statusLine?.split(" ")[1]);
      for (const l of lines) {
        const i = l.indexOf(":");
        this.headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
    }
    for (;;) {
      const f = this.nextFrame();
      if (!f) return;
      this.frames.push(f);
    }
  }

  /** One whole server frame off the buffer (servers do not mask), or undefined. */
  private nextFrame(): RawFrame | undefined {
    const b = this.buf;
    if (b.length < 2) return undefined;
    let n = (b[1] as number) & 0x7f;
    let head = 2;
    if (n === 126) {
      if (b.length < 4) return undefined;
      n = b.readUInt16BE(2);
      head = 4;
    } else if (n === 127) {
      if (b.length < 10) return undefined;
      n = Number(b.readBigUInt64BE(2));
      head = 10;
    }
    if (b.length < head + n) return undefined;
    const payload = b.subarray(head, head + n);
    this.buf = b.subarray(head + n);
    const opcode = (b[0] as number) & 0x0f;
    const compressed = ((b[0] as number) & 0x40) !== 0;
    if (opcode === 8) {
      const closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      return { opcode, compressed, wireBytes: n, closeCode, text: payload.subarray(2).toString() };
    }
    const data = compressed ? inflateMessage(Buffer.from(payload)) : payload;
    return { opcode, compressed, wireBytes: n, text: data.toString("utf8") };
  }

  send(frame: Buffer): void {
    this.sock.write(frame);
  }

  /** A text frame, deflated when `compress` (the connection must have negotiated it). */
  sendText(text: string, compress = false): void {
    const raw = Buffer.from(text);
    this.send(compress ? maskedFrame(deflateMessage(raw), { rsv1: true }) : maskedFrame(raw));
  }

  /** Text frames (opcode 1) received so far. */
  texts(): RawFrame[] {
    return this.frames.filter((f) => f.opcode === 1);
  }

  async until(pred: () => boolean, what: string, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 500)}`);
      }
      await Bun.sleep(5);
    }
  }

  /** The server's close frame, once it came. */
  async closeFrame(ms = 3000): Promise<RawFrame> {
    await this.until(() => this.frames.some((f) => f.opcode === 8), "a close frame", ms);
    return this.frames.find((f) => f.opcode === 8) as RawFrame;
  }

  destroy(): void {
    this.sock.destroy();
  }
}
