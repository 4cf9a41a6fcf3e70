/**
 * Many WebSocket subscribers in one process, on raw TCP sockets (Bun.connect) with a minimal
 * RFC 6455 client: one upgrade request, masked text frames out (AUTH, HB answers), unmasked frames
 * in. Each incoming PUSH is read from its bytes (seq and send time, see evt.ts) without building a
 * string or an event object, so one generator core keeps up with a server core. With `deflate`,
 * the clients offer permessage-deflate and inflate each compressed frame before reading it. With
 * `sse`, each client is a Server-Sent Events stream instead (a GET, a chunked response whose
 * `data:` lines are PUSH frames), read the same way.
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
  /** performance.now() of its latest dial: how long its connect and upgrade took, or have taken so far. */
  dialedAt: number;
  /** SSE: bytes left of the current HTTP chunk; -1 before a size line, -2 before a chunk's CRLF. */
  chunkLeft: number;
  /** SSE: the start of a line that a chunk or a read cut. */
  line: Uint8Array | null;
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
  /** SSE streams: each client's request (a GET with its token and room), answered 200. */
  sse?: (i: number) => Uint8Array;
  /**
   * A dial whose upgrade is not answered within this many ms fails ("no answer"), without a
   * retry: a connect left hanging (queued where nobody accepts it) is a failure, not a wait.
   */
  handshakeMs?: number;
}

/** RFC 7692 §7.2.2: the tail a sender strips from each compressed message. */
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);
const INFLATE_OPTS = { finishFlush: zlib.constants.Z_SYNC_FLUSH };

export class Pool extends Received {
  readonly clients: Client[] = [];
  private request: Uint8Array;
  private port: number;
  // connect bookkeeping
  private open = 0;
  private failed = 0;
  private retries = 0;
  private statuses = new Map<string, number>();
  private inflight = 0;
  private queue: number[] = [];
  private concurrency = 256;
  private waiting: { target: number; resolve: () => void } | undefined;
  /** The longest dial-to-upgrade of this round, in ms. */
  private slowest = 0;
  private readonly evt = { seq: 0, t: 0 };

  constructor(private readonly o: PoolOptions) {
    super();
    for (let i = 0; i < o.count; i++)
      this.clients.push({
        i,
        sock: undefined,
        phase: Phase.Closed,
        rest: null,
        pending: null,
        attempts: 0,
        dialedAt: 0,
        chunkLeft: -1,
        line: null,
      });
    this.port = o.port;
    this.request = this.upgradeRequest();
  }

  private upgradeRequest(): Uint8Array {
    const o = this.o;
    return Buffer.from(
      `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${this.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
        (o.deflate ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "") +
        "\r\n",
    );
  }

  /** Dials go to this port from now on (a server whose port was not known when the clients were made). */
  retarget(port: number): void {
    this.port = port;
    this.request = this.upgradeRequest();
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
    this.slowest = 0;
    this.concurrency = concurrency;
    this.queue = [];
    for (const c of this.clients) if (c.phase === Phase.Closed) this.queue.push(c.i);
    const target = this.open + this.queue.length;
    const bound = this.o.handshakeMs;
    const watch = bound === undefined ? undefined : setInterval(() => this.giveUp(bound), Math.min(100, bound / 4));
    await new Promise<void>((resolve) => {
      this.waiting = { target, resolve };
      this.pump();
      this.check();
    });
    clearInterval(watch);
    return {
      slowest_ms: Math.round(this.slowest),
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
      // Given up on (handshakeMs) while it was connecting.
      if (c.phase !== Phase.Connecting) {
        s.terminate();
        return;
      }
      c.sock = s;
      c.phase = Phase.Handshake;
      s.setNoDelay(true);
      this.write(c, this.o.sse ? this.o.sse(c.i) : this.request);
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
      if (s.data.phase === Phase.Connecting) this.redial(s.data, "connect error");
    },
  };

  /** Dials not answered within `bound` ms fail. */
  private giveUp(bound: number): void {
    const now = performance.now();
    for (const c of this.clients) {
      if ((c.phase !== Phase.Connecting && c.phase !== Phase.Handshake) || now - c.dialedAt <= bound) continue;
      const s = c.sock;
      c.sock = undefined;
      c.phase = Phase.Closed;
      s?.terminate();
      this.settle(c, false, `no answer within ${bound} ms`);
    }
  }

  private dial(c: Client): void {
    c.dialedAt = performance.now();
    c.phase = Phase.Connecting;
    c.rest = null;
    c.pending = null;
    c.chunkLeft = -1;
    c.line = null;
    const la = this.o.localAddresses;
    const opts = { hostname: this.o.host, port: this.port, data: c, socket: this.handlers };
    // `localAddress` works in Bun.connect (it binds before connecting) but is not in its types.
    if (la && la.length > 0) Object.assign(opts, { localAddress: la[c.i % la.length] });
    Bun.connect<Client>(opts).catch(() => {});
  }

  private redial(c: Client, why: string): void {
    if (c.attempts < 5) {
      c.attempts++;
      this.retries++;
      // Not when given up on meanwhile (handshakeMs).
      setTimeout(() => c.phase === Phase.Connecting && this.dial(c), 20 * c.attempts);
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
      if (status !== (this.o.sse ? "200" : "101")) {
        c.phase = Phase.Closed;
        const s = c.sock;
        c.sock = undefined;
        s?.end();
        this.settle(c, false, `HTTP ${status}`);
        return;
      }
      c.phase = Phase.Open;
      c.attempts = 0;
      this.slowest = Math.max(this.slowest, performance.now() - c.dialedAt);
      this.settle(c, true);
      off = end + 4;
      this.wireBytes += b.length - off;
      if (this.o.sse) {
        this.onSse(c, b, off);
        return;
      }
      const hello = this.o.hello(c.i);
      if (hello) this.write(c, hello);
    } else if (this.o.sse) {
      this.onSse(c, b, 0);
      return;
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

  /** An SSE response body from b[off]: HTTP chunks (Bun and Deno stream with chunked encoding). */
  private onSse(c: Client, b: Uint8Array, off: number): void {
    const n = b.length;
    while (off < n) {
      if (c.chunkLeft > 0) {
        const e = Math.min(n, off + c.chunkLeft);
        this.sseBytes(c, b, off, e);
        c.chunkLeft -= e - off;
        off = e;
        if (c.chunkLeft === 0) c.chunkLeft = -2;
        continue;
      }
      // A chunk's size line, or the CRLF after its data: both end at the next LF.
      const lf = b.indexOf(0x0a, off);
      if (lf < 0) {
        c.rest = b.slice(off);
        return;
      }
      if (c.chunkLeft === -2) {
        c.chunkLeft = -1;
        off = lf + 1;
        continue;
      }
      let size = 0;
      for (let i = off; i < lf; i++) {
        const h = b[i] as number;
        const d = h <= 0x39 ? h - 0x30 : (h | 0x20) - 0x57;
        if (d < 0 || d > 15) break; // \r, or a chunk extension
        size = size * 16 + d;
      }
      off = lf + 1;
      if (size === 0) return; // the last chunk: the stream ended (the close comes next)
      c.chunkLeft = size;
    }
  }

  /** SSE text in b[s, e): whole lines are read where they lie; a cut one waits in c.line. */
  private sseBytes(c: Client, b: Uint8Array, s: number, e: number): void {
    let i = s;
    while (i < e) {
      const lf = b.indexOf(0x0a, i);
      if (lf < 0 || lf >= e) {
        const part = b.subarray(i, e);
        c.line = c.line ? Buffer.concat([c.line, part]) : Buffer.from(part);
        return;
      }
      if (c.line) {
        const line = Buffer.concat([c.line, b.subarray(i, lf)]);
        c.line = null;
        this.sseLine(line, 0, line.length);
      } else this.sseLine(b, i, lf - i);
      i = lf + 1;
    }
  }

  private sseLine(b: Uint8Array, start: number, len: number): void {
    if (len === 0) return;
    const first = b[start] as number;
    if (first === 0x3a /* : */) this.hbProbes++;
    else if (first === 0x64 /* d */ && b[start + 4] === 0x3a) {
      // data: <a PUSH frame>
      const e = this.evt;
      if (readEvt(b, start + 6, len - 6, e)) this.delivered(e);
      else this.bad++;
    } else if (first !== 0x69 /* i: the event id, the reader's own */) this.bad++;
  }

  private delivered(e: { seq: number; t: number }): void {
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
      if (readEvt(b, start, len, e)) this.delivered(e);
      else if (b[start + 6] === 0x48 /* {"t":"H */) {
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
