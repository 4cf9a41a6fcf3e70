/**
 * A real redis-server for the shared log's tests, on a free port of 127.0.0.1, with nothing saved
 * (a restart comes back empty, as a server that lost its data). Killing, pausing and restarting it
 * on the same port are real. A plain client beside it reads what the log left in Redis.
 */
import { createClient } from "@redis/client";
import type { Subprocess } from "bun";
import { freePort } from "../bridge/broker.ts";

function serverPath(): string {
  const path = Bun.which("redis-server", { PATH: `${process.env.PATH ?? ""}:/usr/bin:/usr/local/bin` });
  if (!path) throw new Error("these tests need redis-server 7: apt-get install redis-server (.ci/run does)");
  return path;
}

/** A plain client that gives up at the first failure (the tests kill servers under it). */
function plainClient(url: string) {
  const c = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
  c.on("error", () => {});
  return c;
}

export class TestRedis {
  private proc: Subprocess | undefined;
  private inspector: ReturnType<typeof plainClient> | undefined;

  private constructor(
    readonly port: number,
    /** requirepass, when the server wants one. */
    private readonly password?: string,
  ) {}

  static async start(opts: { password?: string } = {}): Promise<TestRedis> {
    const r = new TestRedis(await freePort(), opts.password);
    await r.launch();
    return r;
  }

  get url(): string {
    return `redis://${this.password ? `:${this.password}@` : ""}127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    const args = ["--port", String(this.port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"];
    if (this.password) args.push("--requirepass", this.password);
    const proc = Bun.spawn([serverPath(), ...args], { stdout: "pipe", stderr: "pipe" });
    this.proc = proc;
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        const c = plainClient(this.url);
        await c.connect();
        await c.ping();
        await c.close();
        return;
      } catch (err) {
        if (proc.exitCode !== null || Date.now() > deadline) {
          proc.kill("SIGKILL");
          const out = await new Response(proc.stdout as ReadableStream).text();
          throw new Error(`redis-server did not start on port ${this.port}: ${(err as Error).message}\n${out}`);
        }
        await Bun.sleep(20);
      }
    }
  }

  /** A client of its own, to read what the log keeps (connected at first use, again after a restart). */
  async client(): Promise<ReturnType<typeof plainClient>> {
    if (this.inspector?.isReady) return this.inspector;
    this.inspector?.destroy();
    const c = plainClient(this.url);
    await c.connect();
    this.inspector = c;
    return c;
  }

  /** SIGKILL, as a crash: no goodbye to any client. Resolves once the process is gone. */
  async kill(): Promise<void> {
    this.inspector?.destroy();
    this.inspector = undefined;
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
  }

  /** SIGSTOP: connections stay open and nothing is answered, as with a server that hangs. */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  /** Killed and started again on the same port, empty. */
  async restart(): Promise<void> {
    await this.kill();
    await this.launch();
  }

  async stop(): Promise<void> {
    this.resume();
    await this.kill();
  }
}
