/**
 * The fast path of MQTT ingest. Events arrive as PUBLISH packets, often thousands a second; through
 * mqtt.js each costs a packet object, a Buffer slice, a process.nextTick and a dozen debug calls
 * (most of the ~20 µs of CPU an event took under Bun, more than parsing and delivering it). Here
 * the broker's bytes are read before mqtt.js sees them: every PUBLISH of QoS 0 or 1 is handed to
 * `onPublish` straight from the received chunk (QoS 1 acknowledged here), and every other packet
 * (CONNACK, SUBACK, PINGRESP, QoS 2...) goes on to mqtt.js unchanged, in order. mqtt.js keeps the
 * connection, its keepalive, subscriptions and everything we send.
 *
 * MQTT 3.1.1 §2.2: a fixed header byte, a remaining length of 1–4 bytes (7 bits each, low first),
 * then the packet. §3.3: a PUBLISH is a topic (2-byte length, UTF-8), a packet id when QoS > 0,
 * then the payload up to the end of the packet.
 */
import { Transform, type TransformCallback } from "node:stream";

/** `payload` is a view of the received bytes, valid during the call (decode it, don't keep it). */
export type OnPublish = (topic: string, payload: Buffer, retain: boolean) => void;

const PUBLISH = 3;

/**
 * Splits the broker's byte stream into packets. Pure (no socket): `feed` takes each chunk as it
 * came, calls `onPublish` for each complete QoS 0/1 PUBLISH and `ack(id)` for each QoS 1 one, and
 * returns the bytes of every other complete packet, to pass on. A packet split over chunks waits
 * for the rest.
 */
export class PacketSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The size of the packet the pending bytes start, once its header is complete (else 0). */
  private need = 0;
  /** A malformed length: from there on everything goes to mqtt.js, which reports the error. */
  private broken = false;

  constructor(
    private readonly onPublish: OnPublish,
    private readonly ack: (packetId: number) => void,
  ) {}

  feed(chunk: Buffer): Buffer[] {
    if (this.broken) return [chunk];
    let buf = chunk;
    if (this.pendingBytes > 0) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      // A large packet arrives in many chunks: join them once it is whole, not at every chunk.
      if (this.need > 0 && this.pendingBytes < this.need) return NONE;
      buf = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      this.need = 0;
    }
    let out: Buffer[] = NONE;
    let i = 0;
    const end = buf.length;
    while (i < end) {
      const header = buf[i] as number;
      // The remaining length: up to 4 bytes.
      let length = 0;
      let shift = 1;
      let j = i + 1;
      let complete = false;
      for (let k = 0; k < 4 && j < end; k++) {
        const b = buf[j++] as number;
        length += (b & 0x7f) * shift;
        shift *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (j - i >= 5) {
          // A fifth length byte: not MQTT. mqtt.js gets it all and closes the connection.
          this.broken = true;
          if (out === NONE) out = [];
          out.push(buf.subarray(i));
          return out;
        }
        this.keep(buf.subarray(i), 0);
        return out;
      }
      const stop = j + length;
      if (stop > end) {
        this.keep(buf.subarray(i), stop - i);
        return out;
      }
      if (!(header >> 4 === PUBLISH && this.publish(buf, header, j, stop))) {
        if (out === NONE) out = [];
        out.push(buf.subarray(i, stop));
      }
      i = stop;
    }
    return out;
  }

  /** True when the packet was taken here (QoS 0 or 1, well formed); false leaves it to mqtt.js. */
  private publish(buf: Buffer, header: number, from: number, stop: number): boolean {
    const qos = (header >> 1) & 3;
    if (qos === 2 || stop - from < 2) return false;
    const topicEnd = from + 2 + ((buf[from] as number) << 8) + (buf[from + 1] as number);
    const payloadFrom = topicEnd + (qos === 1 ? 2 : 0);
    if (payloadFrom > stop) return false;
    const topic = buf.toString("utf8", from + 2, topicEnd);
    if (qos === 1) this.ack(((buf[topicEnd] as number) << 8) + (buf[topicEnd + 1] as number));
    this.onPublish(topic, buf.subarray(payloadFrom, stop), (header & 1) === 1);
    return true;
  }

  private keep(rest: Buffer, need: number): void {
    // A copy: the chunk it came from may be a view into a buffer that gets reused.
    this.pending.push(Buffer.from(rest));
    this.pendingBytes = rest.length;
    this.need = need;
  }
}

const NONE: Buffer[] = [];

/** A PUBACK (§3.4): the only packet this path ever sends. */
function puback(id: number): Buffer {
  return Buffer.from([0x40, 0x02, id >> 8, id & 0xff]);
}

/** What mqtt.js gets from its stream builder: a socket (net or tls). */
export interface BrokerSocket extends NodeJS.ReadableStream {
  write(data: Uint8Array): boolean;
}

/**
 * Puts the splitter between a broker socket and mqtt.js: mqtt.js reads the socket with
 * `socket.pipe(parser)`, so that one call is redirected through the splitter. Writes, close and
 * errors stay the socket's own, as mqtt.js expects.
 */
export function tapPublishes<S extends BrokerSocket>(socket: S, onPublish: OnPublish): S {
  const splitter = new PacketSplitter(onPublish, (id) => socket.write(puback(id)));
  const rest = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      const others = splitter.feed(chunk);
      for (let i = 0; i < others.length; i++) this.push(others[i]);
      done();
    },
  });
  const pipe = socket.pipe.bind(socket);
  socket.pipe = (<T extends NodeJS.WritableStream>(dest: T, options?: { end?: boolean }): T => {
    pipe(rest, options);
    return rest.pipe(dest, options);
  }) as S["pipe"];
  return socket;
}
