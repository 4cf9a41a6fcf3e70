/**
 * A comet server in a Deno process (deno-server.ts), seen from the Bun test process as a
 * TestServer. Its sessions, rooms and connections are a copy kept fresh by the process's stream,
 * so the tests' synchronous predicates (`server.hub.sessions.get(uid)?.rid === rid`) read it as
 * they read an in-process server. The copy may lag the server, never lead it.
 */
import type { Subprocess } from "bun";
import type { Activity, ActivityListener } from "../../src/hub/activity.ts";
import type { Command, Event, StartParams } from "./protocol.ts";
import { DENO, ROOT } from "./runtime.ts";
import type { ConnectionState, SessionState, TestServer } from "./test-server.ts";

const SERVER_SCRIPT = `${ROOT}/test/support/deno-server.ts`;
/** After stop(), the process must be gone within this; a server that leaks a handle never is. */
const EXIT_MS = 5000;

type Distribute<T> = T extends unknown ? Omit<T, "id"> : never;

class RemoteSession implements SessionState {
  rid = "";
  conn: RemoteConnection | undefined;
  constructor(
    readonly uid: string,
    readonly birth: number,
  ) {}
}

class RemoteConnection implements ConnectionState {
  session: RemoteSession | undefined;
  constructor(
    private readonly server: RemoteServer,
    readonly id: number,
  ) {}

  get uid(): string | undefined {
    return this.session?.uid;
  }

  close(code: number, reason: string): void {
    void this.server.command({ op: "close", c: this.id, code, reason });
  }
}

class RemoteHub {
  readonly sessions = new Map<string, RemoteSession>();
  readonly rooms = new Map<string, Set<RemoteSession>>();
  private readonly listeners: ActivityListener[] = [];

  onActivity(listener: ActivityListener): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** The same state change the hub made before it emitted a, then a to the listeners. */
  apply(a: Activity, birth: number | undefined, conn: RemoteConnection | undefined): void {
    const s = this.sessions.get(a.uid);
    switch (a.type) {
      case "ONLINE": {
        const fresh = new RemoteSession(a.uid, birth ?? 0);
        this.sessions.set(a.uid, fresh);
        if (conn) {
          conn.session = fresh;
          fresh.conn = conn;
        }
        break;
      }
      case "OFFLINE":
        this.sessions.delete(a.uid);
        if (s?.conn) s.conn.session = undefined;
        break;
      case "ENTER_ROOM": {
        if (!s) break;
        s.rid = a.rid;
        let room = this.rooms.get(a.rid);
        if (!room) {
          room = new Set();
          this.rooms.set(a.rid, room);
        }
        room.add(s);
        break;
      }
      case "LEAVE_ROOM": {
        if (!s) break;
        s.rid = "";
        const room = this.rooms.get(a.rid);
        room?.delete(s);
        if (room?.size === 0) this.rooms.delete(a.rid);
        break;
      }
      case "HEARD":
        break;
    }
    for (const l of [...this.listeners]) l(a);
  }
}

/** Servers by port, so that a client of one can wait for the copy to catch up (settle). */
const byPort = new Map<number, RemoteServer>();

export class RemoteServer implements TestServer {
  readonly hub = new RemoteHub();
  readonly gateway = { connections: new Set<RemoteConnection>(), draining: false };
  url = "";
  port = 0;
  ws = "";
  bridge: TestServer["bridge"];
  private readonly byId = new Map<number, RemoteConnection>();
  private readonly pending = new Map<number, { resolve(): void; reject(e: Error): void }>();
  private lastId = 0;
  private exitCode: number | undefined;
  private ending: Promise<void> | undefined;
  private readonly exited: Promise<number>;
  private readonly proc: Subprocess<"pipe", "pipe", "inherit">;
  private readonly started: Promise<void>;

  constructor(
    params: StartParams,
    private readonly lines: string[] | undefined,
  ) {
    this.proc = Bun.spawn([DENO, "run", "-A", SERVER_SCRIPT, JSON.stringify(params)], {
      cwd: ROOT,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    let ready: (e: Extract<Event, { k: "started" | "failed" }>) => void = () => {};
    const first = new Promise<Extract<Event, { k: "started" | "failed" }>>((r) => {
      ready = r;
    });
    const reading = this.read(this.proc.stdout, ready);
    this.exited = this.proc.exited.then(async (code) => {
      await reading;
      this.exitCode = code;
      if (byPort.get(this.port) === this) byPort.delete(this.port);
      // Nothing more can change there: what waits for the copy to catch up has it.
      for (const p of this.pending.values()) p.resolve();
      this.pending.clear();
      if (!this.ending && this.port !== 0)
        console.error(`comet server process (deno, port ${this.port}) exited by itself with code ${code}`);
      return code;
    });
    this.started = Promise.race([
      first,
      this.exited.then((code) => ({ k: "failed" as const, message: `deno exited with code ${code} before listening` })),
    ]).then((e) => {
      if (e.k === "failed") throw new Error(e.message);
      this.url = e.url;
      this.port = e.port;
      this.ws = `${e.url.replace("http", "ws")}/comet/Comet/Subscribe`;
      this.bridge = e.bridge;
      byPort.set(this.port, this);
    });
  }

  /** The Deno process's id: a test that measures the server's memory reads it from /proc. */
  get pid(): number {
    return this.proc.pid;
  }

  async ready(): Promise<this> {
    await this.started;
    return this;
  }

  private async read(
    stream: ReadableStream<Uint8Array>,
    ready: (e: Extract<Event, { k: "started" | "failed" }>) => void,
  ) {
    const decoder = new TextDecoder();
    let buffered = "";
    for await (const chunk of stream) {
      buffered += decoder.decode(chunk, { stream: true });
      let from = 0;
      for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n", from)) {
        const e = JSON.parse(buffered.slice(from, nl)) as Event;
        from = nl + 1;
        if (e.k === "started" || e.k === "failed") ready(e);
        else this.dispatch(e);
      }
      buffered = buffered.slice(from);
    }
  }

  private dispatch(e: Exclude<Event, { k: "started" | "failed" }>): void {
    switch (e.k) {
      case "act":
        this.hub.apply(e.a, e.birth, e.c === undefined ? undefined : this.byId.get(e.c));
        return;
      case "open": {
        const c = new RemoteConnection(this, e.c);
        this.byId.set(e.c, c);
        this.gateway.connections.add(c);
        return;
      }
      case "closed": {
        const c = this.byId.get(e.c);
        this.byId.delete(e.c);
        if (c) this.gateway.connections.delete(c);
        return;
      }
      case "draining":
        this.gateway.draining = true;
        return;
      case "log":
        this.lines?.push(e.line);
        return;
      case "ack": {
        const p = this.pending.get(e.id);
        this.pending.delete(e.id);
        if (e.error) p?.reject(new Error(e.error));
        else p?.resolve();
        return;
      }
    }
  }

  /** Sends a command; resolves once the server process has carried it out. */
  command(cmd: Distribute<Command>): Promise<void> {
    if (this.exitCode !== undefined) return Promise.resolve();
    const id = ++this.lastId;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      try {
        this.proc.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
        this.proc.stdin.flush();
      } catch {
        // The process is going: its exit settles what is pending.
      }
    });
  }

  /** Resolves once the copy holds everything that happened on the server before now. */
  settle(): Promise<void> {
    return this.command({ op: "sync" });
  }

  drain(): Promise<void> {
    return this.end("drain");
  }

  stop(): Promise<void> {
    return this.end("stop");
  }

  private end(op: "drain" | "stop"): Promise<void> {
    this.ending ??= (async () => {
      await this.command({ op });
      const timer = new Promise<"late">((r) => setTimeout(() => r("late"), EXIT_MS).unref());
      if ((await Promise.race([this.exited, timer])) === "late") {
        this.proc.kill();
        throw new Error(
          `the Deno server process on port ${this.port} did not exit within ${EXIT_MS} ms of ${op}(): something still holds its event loop`,
        );
      }
    })();
    return this.ending;
  }
}

export async function startRemote(params: StartParams, lines?: string[]): Promise<TestServer> {
  return new RemoteServer(params, lines).ready();
}

/** For a client of a server in another process: resolves once that server's copy has caught up. */
export function settleFor(url: string): Promise<void> | undefined {
  if (byPort.size === 0) return undefined;
  const port = Number(new URL(url).port);
  return byPort.get(port)?.settle();
}
