/**
 * Many WebSocket subscribers in one process, on raw TCP sockets (Bun.connect) with a minimal
 * RFC 6455 client: one upgrade request, masked text frames out (AUTH, HB answers), unmasked frames
 * in. Each incoming PUSH is read from its bytes (seq and send time, see evt.ts) without building a
 * string or an event object, so one generator core keeps up with a server core. With `deflate`,
 * the clients offer permessage-deflate and inflate each compressed frame before reading it.
 */
import zlib from "node:zlib";
import type { Socket, SocketHandler } from "bun";
import { nowUs } from "./clock.ts";
import { readEvt } from "./evt.ts";
import { Received } from "./received.ts";
import { CLOSE_FRAME, CRLFCRLF, HB_REPLY } from "./wsframes.ts";
import type { ConnectResult } from "./wsreports.ts";

const Phase = { Connecting: 0, Handshake: 1, Open: 2, Closed: 3 } as const;
type Phase = (typeof Phase)[keyof typeof Phase];

interface Client {
  i: number;
  sock: Socket<Client> | undefined;
  phase: Phase;
  rest: Uint8Array | null;
  pending: Uint8Array | null;
  attempts: number;
}

export interface PoolOptions {
  host: string;
  port: number;
  path: string;
  /** The first frame to send once upgraded (AUTH), per client; undefined = send nothing. */
  hello: (i: number) => Uint8Array | undefined;
  count: number;
  /**
   * Source addresses to spread the clients over (loopback 127/8). With tens of thousands of
   * sockets on one source address the kernel's search for a free ephemeral port
   * (__inet_hash_connect) costs more than the rest of a connect; each address has its own ports.
   */
  localAddresses?: string[];
  /** Offer permessage-deflate (the server answers without context takeover: see runtime/bun.ts). */
  deflate?: boolean;
}

/** RFC 7692 §7.2.2: the tail a sender strips from each compressed message. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const INFLATE_OPTS = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

export class Pool extends Received {
  readonly clients: Client[] = [];
  private readonly request: Uint8Array;
  // connect bookkeeping
  private open = 0;
  private failed = 0;
  private retries = 0;
  private statuses = new Map<string, number>();
  private inflight = 0;
  private queue: number[] = [];
  private concurrency = 256;
  private waiting: { target: number; resolve: () => void } | undefined;
  private readonly evt = { seq: 0, t: 0 };

  constructor(private readonly o: PoolOptions) {
    super();
    for (let i = 0; i < o.count; i++)
      this.clients.push({ i, sock: undefined, phase: Phase.Closed, rest: null, pending: null, attempts: 0 });
    this.request = Buffer.from(
      `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        (o.deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") +
        "\r\n",
    );
  }

  get upgraded(): number {
    return this.open;
  }

  /** Connects every client not open, at most `concurrency` handshakes at a time. */
  async connectAll(concurrency: number): Promise<ConnectResult> {
    const t0 = nowUs();
    this.failed = 0;
    this.retries = 0;
    this.statuses.clear();
    this.concurrency = concurrency;
    this.queue = [];
    for (const c of this.clients) if (c.phase === Phase.Closed) this.queue.push(c.i);
    const target = this.open + this.queue.length;
    await new Promise<void>((resolve) => {
      this.waiting = { target, resolve };
      this.pump();
      this.check();
    });
    return {
      upgraded: this.open,
      failed: this.failed,
      retries: this.retries,
      t0_us: t0,
      t1_us: nowUs(),
      statuses: Object.fromEntries(this.statuses),
    };
  }

  /** Every client drops its TCP connection at once (no close handshake), then all reconnect. */
  async storm(concurrency: number): Promise<ConnectResult & { dropped_us: number }> {
    const t = nowUs();
    for (const c of this.clients) {
      const s = c.sock;
      c.sock = undefined;
      if (c.phase !== Phase.Closed) this.open -= c.phase === Phase.Open ? 1 : 0;
      c.phase = Phase.Closed;
      c.rest = null;
      c.pending = null;
      s?.terminate();
    }
    const r = await this.connectAll(concurrency);
    return { ...r, t0_us: t, dropped_us: t };
  }

  /** Sends a close frame on every open client and ends the sockets. */
  closeAll(): void {
    for (const c of this.clients) {
      const s = c.sock;
      c.sock = undefined;
      c.phase = Phase.Closed;
      if (s) {
        s.write(CLOSE_FRAME);
        s.end();
      }
    }
    this.open = 0;
  }

  private check(): void {
    const w = this.waiting;
    if (w && (this.open + this.failed >= w.target || (this.inflight === 0 && this.queue.length === 0))) {
      this.waiting = undefined;
      w.resolve();
    }
  }

  private pump(): void {
    while (this.inflight < this.concurrency && this.queue.length > 0) {
      const i = this.queue.pop() as number;
      this.inflight++;
      this.dial(this.clients[i] as Client);
    }
  }

  private settle(c: Client, ok: boolean, status?: string): void {
    this.inflight--;
    if (ok) this.open++;
    else {
      this.failed++;
      if (status) this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    }
    this.pump();
    this.check();
    void c;
  }

  /** One handler set for every socket (Bun makes a socket context per handler object). */
  private readonly handlers: SocketHandler<Client> = {
    open: (s) => {
      const c = s.data;
      c.sock = s;
      c.phase = Phase.Handshake;
      s.setNoDelay(true);
      this.write(c, this.request);
    },
    data: (s, chunk) => {
      if (s.data.sock === s) this.onData(s.data, chunk);
    },
    drain: (s) => {
      const c = s.data;
      if (c.sock !== s || !c.pending) return;
      const p = c.pending;
      c.pending = null;
      this.write(c, p);
    },
    close: (s) => {
      if (s.data.sock === s) this.onGone(s.data, "closed");
    },
    error: (s) => {
      if (s.data.sock === s) this.onGone(s.data, "error");
    },
    connectError: (s) => {
      this.redial(s.data, "connect error");
    },
  };

  private dial(c: Client): void {
    c.phase = Phase.Connecting;
    c.rest = null;
    c.pending = null;
    const la = this.o.localAddresses;
    const opts = { hostname: this.o.host, port: this.o.port, data: c, socket: this.handlers };
    // `localAddress` works in Bun.connect (it binds before connecting) but is not in its types.
    if (la && la.length > 0) Object.assign(opts, { localAddress: la[c.i % la.length] });
    Bun.connect<Client>(opts).catch(() => {});
  }

  private redial(c: Client, why: string): void {
    if (c.attempts < 5) {
      c.attempts++;
      this.retries++;
      setTimeout(() => this.dial(c), 20 * c.attempts);
      return;
    }
    c.phase = Phase.Closed;
    this.settle(c, false, why);
  }

  private onGone(c: Client, why: string): void {
    const was = c.phase;
    c.phase = Phase.Closed;
    c.sock = undefined;
    if (was === Phase.Open) this.open--;
    else if (was === Phase.Handshake) this.settle(c, false, `${why} during handshake`);
  }

  private write(c: Client, data: Uint8Array): void {
    const s = c.sock;
    if (!s) return;
    if (c.pending) {
      c.pending = Buffer.concat([c.pending, data]);
      return;
    }
    const n = s.write(data);
    if (n < data.length) c.pending = data.subarray(Math.max(0, n));
  }

  private onData(c: Client, chunk: Uint8Array): void {
    let b = chunk;
    if (c.rest) {
      b = Buffer.concat([c.rest, chunk]);
      c.rest = null;
    }
    let off = 0;
    // Bytes on the wire after the upgrade response (frame headers included), each counted once:
    // what c.rest held was counted when it came.
    if (c.phase === Phase.Open) this.wireBytes += chunk.length;
    if (c.phase === Phase.Handshake) {
      const end = Buffer.from(b.buffer, b.byteOffset, b.byteLength).indexOf(CRLFCRLF);
      if (end < 0) {
        c.rest = Buffer.from(b);
        return;
      }
      const status = String.fromCharCode(b[9] as number, b[10] as number, b[11] as number);
      if (status !== "101") {
        c.phase = Phase.Closed;
        const s = c.sock;
        c.sock = undefined;
        s?.end();
        this.settle(c, false, `HTTP ${status}`);
        return;
      }
      c.phase = Phase.Open;
      c.attempts = 0;
      this.settle(c, true);
      const hello = this.o.hello(c.i);
      if (hello) this.write(c, hello);
      off = end + 4;
      this.wireBytes += b.length - off;
    }
    const n = b.length;
    while (off + 2 <= n) {
      const b0 = b[off] as number;
      let len = (b[off + 1] as number) & 127;
      let h = 2;
      if (len === 126) {
        if (off + 4 > n) break;
        len = ((b[off + 2] as number) << 8) | (b[off + 3] as number);
        h = 4;
      } else if (len === 127) {
        if (off + 10 > n) break;
        len = Number(Buffer.from(b.buffer, b.byteOffset, b.byteLength).readBigUInt64BE(off + 2));
        h = 10;
      }
      if (off + h + len > n) break;
      if (b0 & 0x40) this.onCompressed(c, b0 & 15, b, off + h, len);
      else this.onFrame(c, b0 & 15, b, off + h, len);
      off += h + len;
    }
    if (off < n && c.phase === Phase.Open) c.rest = b.slice(off);
  }

  /** RSV1: a deflated message (the generator's CPU, not the server's, pays for this). */
  private onCompressed(c: Client, op: number, b: Uint8Array, start: number, len: number): void {
    const payload = Buffer.concat([Buffer.from(b.buffer, b.byteOffset + start, len), DEFLATE_TAIL]);
    const text = zlib.inflateRawSync(payload, INFLATE_OPTS);
    this.onFrame(c, op, text, 0, text.length);
  }

  private onFrame(c: Client, op: number, b: Uint8Array, start: number, len: number): void {
    if (op === 1 || op === 2) {
      const e = this.evt;
      if (readEvt(b, start, len, e)) {
        const t = nowUs();
        const lat = t - e.t;
        this.hist.record(lat);
        if (this.received === 0) this.firstUs = t;
        this.lastUs = t;
        this.received++;
        if (e.seq < this.seqCount.length) {
          this.seqCount[e.seq] = (this.seqCount[e.seq] as number) + 1;
          if (lat > (this.seqMax[e.seq] as number)) this.seqMax[e.seq] = lat;
        }
      } else if (b[start + 6] === 0x48 /* {"t":"H */) {
        this.hbProbes++;
        this.write(c, HB_REPLY);
      } else this.bad++;
    } else if (op === 8) {
      const code = len >= 2 ? ((b[start] as number) << 8) | (b[start + 1] as number) : 1005;
      this.closes.set(code, (this.closes.get(code) ?? 0) + 1);
      const s = c.sock;
      this.onGone(c, "closed");
      s?.end();
    } else if (op === 9) {
      const pong = Buffer.alloc(6 + len);
      pong[0] = 0x8a;
      pong[1] = 0x80 | len;
      Buffer.from(b.buffer, b.byteOffset + start, len).copy(pong, 6);
      this.write(c, pong);
    }
  }
}
