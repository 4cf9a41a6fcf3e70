/**
 * A minimal keep-alive HTTP/1.1 client for POSTs on raw TCP sockets: C connections, one request in
 * flight on each, request bytes built by the caller, the response read just far enough to know its
 * status and where it ends. Bun's fetch costs several times more CPU per request, and the
 * publisher shares the generators' core.
 */
import type { Socket } from "bun";
import { nowUs } from "./clock.ts";
import { Hist } from "./hist.ts";

const CRLFCRLF = Buffer.from("\r\n\r\n");
const CONTENT_LENGTH = Buffer.from("Content-Length: ");

interface Conn {
  sock: Socket<Conn> | undefined;
  busy: boolean;
  /** When the request was due (open-loop pacing) or sent (closed loop), µs. */
  startUs: number;
  rest: Buffer | null;
  pending: Uint8Array | null;
}

export interface PostJob {
  host: string;
  port: number;
  path: string;
  headers: Record<string, string>;
  /** The body of request number i, given the time it is due (µs). */
  body: (i: number, tUs: number) => string;
  count: number;
  connections: number;
  /** Requests per second, open loop; 0 = as fast as the connections allow (closed loop). */
  rate: number;
  /** Open loop: stop after this long even if count is not reached. */
  maxSeconds: number;
}

export interface PostResult {
  sent: number;
  ok: number;
  errors: number;
  statuses: Record<string, number>;
  t0_us: number;
  t1_us: number;
  latency: ReturnType<Hist["toSparse"]>;
}

/** The response's Content-Length (-1: chunked). Bun writes the header as "Content-Length: ". */
function contentLength(head: Buffer): number {
  const at = head.indexOf(CONTENT_LENGTH);
  if (at >= 0) {
    let n = 0;
    for (let i = at + CONTENT_LENGTH.length; i < head.length; i++) {
      const c = head[i] as number;
      if (c < 0x30 || c > 0x39) break;
      n = n * 10 + (c - 0x30);
    }
    return n;
  }
  const lower = head.toString("latin1").toLowerCase();
  const i = lower.indexOf("content-length:");
  if (i < 0) return lower.includes("transfer-encoding: chunked") ? -1 : 0;
  return Number.parseInt(lower.slice(i + "content-length:".length), 10);
}

export async function runPosts(job: PostJob): Promise<PostResult> {
  const prefix =
    `POST ${job.path} HTTP/1.1\r\nHost: ${job.host}:${job.port}\r\n` +
    Object.entries(job.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") +
    "Content-Length: ";
  const hist = new Hist();
  const statuses = new Map<string, number>();
  let sent = 0;
  let done = 0;
  let ok = 0;
  let errors = 0;
  let finished: () => void = () => {};
  const allDone = new Promise<void>((r) => {
    finished = r;
  });
  const idle: Conn[] = [];
  /** Open loop: requests due but not yet sent (their due times). */
  const backlog: number[] = [];
  let stopAt = Number.POSITIVE_INFINITY;

  const send = (c: Conn, dueUs: number): void => {
    const i = sent++;
    const body = job.body(i, dueUs);
    const req = Buffer.from(`${prefix}${Buffer.byteLength(body)}\r\n\r\n${body}`);
    c.busy = true;
    c.startUs = dueUs;
    const n = (c.sock as Socket<Conn>).write(req);
    if (n < req.length) c.pending = req.subarray(Math.max(0, n));
  };

  const next = (c: Conn): void => {
    if (job.rate === 0) {
      if (sent < job.count) send(c, nowUs());
      else c.busy = false;
    } else if (backlog.length > 0) send(c, backlog.shift() as number);
    else {
      c.busy = false;
      idle.push(c);
    }
  };

  const complete = (c: Conn, status: string): void => {
    hist.record(nowUs() - c.startUs);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (status === "200") ok++;
    else errors++;
    done++;
    c.busy = false;
    if (done >= job.count || (done >= sent && nowUs() >= stopAt)) finished();
    else next(c);
  };

  const onData = (c: Conn, chunk: Buffer): void => {
    let b = c.rest ? Buffer.concat([c.rest, chunk]) : chunk;
    c.rest = null;
    for (;;) {
      const end = b.indexOf(CRLFCRLF);
      if (end < 0) break;
      const head = b.subarray(0, end);
      const len = contentLength(head);
      let total: number;
      if (len >= 0) total = end + 4 + len;
      else {
        const z = b.indexOf("\r\n0\r\n\r\n", end);
        if (z < 0) break;
        total = z + 7;
      }
      if (b.length < total) break;
      const status = b.toString("latin1", 9, 12);
      b = b.subarray(total);
      complete(c, status);
    }
    if (b.length > 0) c.rest = Buffer.from(b);
  };

  const conns: Conn[] = [];
  await Promise.all(
    Array.from({ length: job.connections }, async () => {
      const c: Conn = { sock: undefined, busy: false, startUs: 0, rest: null, pending: null };
      c.sock = await Bun.connect<Conn>({
        hostname: job.host,
        port: job.port,
        data: c,
        socket: {
          data: (_s, chunk) => onData(c, chunk as Buffer),
          drain: (s) => {
            if (!c.pending) return;
            const p = c.pending;
            c.pending = null;
            const n = s.write(p);
            if (n < p.length) c.pending = p.subarray(Math.max(0, n));
          },
          close: () => {
            c.sock = undefined;
            if (c.busy) {
              errors++;
              done++;
              statuses.set("closed", (statuses.get("closed") ?? 0) + 1);
              if (done >= sent) finished();
            }
          },
          error: () => {},
        },
      });
      c.sock.setNoDelay(true);
      conns.push(c);
    }),
  );

  const t0 = nowUs();
  if (job.count === 0) finished();
  else if (job.rate === 0) {
    for (const c of conns) if (sent < job.count) send(c, nowUs());
  } else {
    // Open loop: every millisecond, whatever became due goes out on an idle connection or waits;
    // a request's latency counts from when it was due, so a stall is not hidden.
    idle.push(...conns);
    stopAt = t0 + job.maxSeconds * 1e6;
    let scheduled = 0;
    const perUs = job.rate / 1e6;
    const tick = (): void => {
      const now = nowUs();
      const due = Math.min(job.count, Math.floor((now - t0) * perUs) + 1);
      while (scheduled < due && now < stopAt) {
        const at = t0 + scheduled / perUs;
        scheduled++;
        const c = idle.pop();
        if (c) send(c, at);
        else backlog.push(at);
      }
      if (scheduled < job.count && now < stopAt) setTimeout(tick, 1);
      else {
        job.count = scheduled;
        if (done >= scheduled) finished();
      }
    };
    tick();
  }
  await allDone;
  const t1 = nowUs();
  for (const c of conns) c.sock?.end();
  return {
    sent,
    ok,
    errors,
    statuses: Object.fromEntries(statuses),
    t0_us: t0,
    t1_us: t1,
    latency: hist.toSparse(),
  };
}
