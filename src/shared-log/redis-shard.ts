/**
 * One Redis server of the shared log: its connection, whether it can be used now, and script calls
 * that fail fast. A history store that is down must cost a publisher a quick 503, never a wait: no
 * command waits for a connection (no offline queue), none waits longer than commandTimeoutMs for
 * an answer, and the client reconnects by itself in the background.
 */
import { ClientOfflineError, createClient, ErrorReply } from "@redis/client";
import type { Logger } from "../log.ts";
import { HistoryUnavailable } from "../broker/history-log.ts";
import type { Script } from "./redis-scripts.ts";
import { redactUrl } from "./shards.ts";

export interface ShardOptions {
  /** redis:// or rediss:// URL, with the password if the server wants one. */
  url: string;
  log: Logger;
  /** One connection attempt gives up after this (a host that drops packets). */
  connectTimeoutMs: number;
  /** A command with no answer by then fails (a server that hangs); its late answer is dropped. */
  commandTimeoutMs: number;
  /** Commands sent and not yet answered, at most; more fail at once (a server that hangs under load). */
  maxInFlight: number;
  /** After each round trip: its duration in seconds and whether it succeeded. */
  onCommand?: (seconds: number, ok: boolean) => void;
}

/** Reconnect after 50 ms, doubling up to 1 s (jittered, so that instances do not come back in step). */
const reconnectDelay = (retries: number): number => Math.min(50 * 2 ** retries, 1000) + Math.floor(Math.random() * 50);

// The same failure logged again only after this long: a dead store fails every publish.
const RELOG_MS = 10_000;

export class Shard {
  /** The URL with its password hidden: what logs and /readyz show. */
  readonly name: string;
  private readonly client: ReturnType<typeof createClient>;
  /** Why the shard cannot be used now, when it cannot (a connection error, a command unanswered). */
  private why: string | undefined = "not connected yet";
  private everReady = false;
  private lastLogged = { text: "", at: 0 };

  constructor(private readonly opts: ShardOptions) {
    this.name = redactUrl(opts.url);
    this.client = createClient({
      url: opts.url,
      // Script replies read as RESP2 (arrays, nil), whatever the server's and the library's defaults.
      RESP: 2,
      disableOfflineQueue: true,
      commandsQueueMaxLength: opts.maxInFlight,
      socket: { connectTimeout: opts.connectTimeoutMs, reconnectStrategy: reconnectDelay },
    });
    // Connection errors come here, each attempt again, while the client reconnects.
    this.client.on("error", (err: Error) => this.broken(err.message));
    this.client.on("ready", () => {
      if (this.everReady) opts.log.info("history store shard reachable again", { shard: this.name });
      this.everReady = true;
      this.why = undefined;
    });
    // connect() resolves at the first ready; failures before it are retried and reported as errors.
    this.client.connect().catch((err: unknown) => this.broken(String((err as Error)?.message ?? err)));
  }

  /** undefined when usable; else why not. */
  notReady(): string | undefined {
    if (!this.client.isOpen) return "closed";
    if (!this.client.isReady) return this.why ?? "not connected";
    return this.why;
  }

  /** Resolves true once connected, false when timeoutMs passes first. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.client.isReady) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.client.off("ready", onReady);
        resolve(false);
      }, timeoutMs);
      const onReady = () => {
        clearTimeout(timer);
        resolve(true);
      };
      this.client.once("ready", onReady);
    });
  }

  /**
   * Runs a script: EVALSHA, and EVAL when the server does not have it (it restarted, or its cache
   * was flushed). Rejects with HistoryUnavailable naming `what` and this shard.
   */
  run(script: Script, keys: readonly string[], args: readonly string[], what: string): Promise<unknown> {
    return this.send(() => this.evalsha(script, keys, args), what);
  }

  /** One plain command (SCAN, MGET), failing as run does. */
  command(args: readonly string[], what: string): Promise<unknown> {
    return this.send(() => this.client.sendCommand([...args]), what);
  }

  private async send(call: () => Promise<unknown>, what: string): Promise<unknown> {
    const started = performance.now();
    try {
      const reply = await this.withDeadline(call());
      this.opts.onCommand?.((performance.now() - started) / 1000, true);
      if (this.why && this.client.isReady) this.why = undefined;
      return reply;
    } catch (err) {
      this.opts.onCommand?.((performance.now() - started) / 1000, false);
      let text = err instanceof Error ? err.message : String(err);
      // "The client is offline" alone does not say why: the last connection error does.
      if (err instanceof ClientOfflineError && this.why) text += ` (${this.why})`;
      // A server that answers with an error is reachable, but misused or full (OOM): say so loudly.
      if (err instanceof ErrorReply) this.logOnce("error", "history store shard refused a command", text);
      throw new HistoryUnavailable(`${what} on ${this.name}: ${text}`, { cause: err });
    }
  }

  /** A second connection with the same options, for SUBSCRIBE (a subscribed connection runs nothing else). */
  duplicate(): ReturnType<typeof createClient> {
    return this.client.duplicate();
  }

  /**
   * A round trip that reads nothing: a server that hangs keeps its connections open, and only a
   * command that goes unanswered tells; this one tells while no publication is sent (readiness).
   */
  async ping(): Promise<void> {
    try {
      await this.withDeadline(this.client.sendCommand(["PING"]));
      if (this.why && this.client.isReady) this.why = undefined;
    } catch {
      // Offline, or no answer in time (withDeadline marked the shard): notReady() says which.
    }
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    // A connected client says goodbye after its last answers, unless they do not come (a server
    // that hangs); one that is reconnecting just stops.
    if (this.client.isReady) {
      const quit = this.client.close();
      quit.catch(() => {});
      const timer = setTimeout(() => this.client.destroy(), this.opts.commandTimeoutMs);
      await quit.catch(() => {});
      clearTimeout(timer);
    } else {
      this.client.destroy();
    }
  }

  private async evalsha(script: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const n = String(keys.length);
    try {
      return await this.client.sendCommand(["EVALSHA", script.sha, n, ...keys, ...args]);
    } catch (err) {
      if (!(err instanceof ErrorReply) || !err.message.startsWith("NOSCRIPT")) throw err;
      return await this.client.sendCommand(["EVAL", script.source, n, ...keys, ...args]);
    }
  }

  private withDeadline<T>(p: Promise<T>): Promise<T> {
    const ms = this.opts.commandTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const why = `no answer within ${ms} ms`;
        this.broken(why);
        reject(new Error(why));
      }, ms);
    });
    // The answer that comes after the deadline (or its error) is nobody's.
    p.catch(() => {});
    return Promise.race([p, late]).finally(() => clearTimeout(timer));
  }

  private broken(why: string): void {
    this.why = why;
    this.logOnce("warn", "history store shard unreachable", why);
  }

  private logOnce(level: "warn" | "error", msg: string, error: string): void {
    const now = Date.now();
    if (error === this.lastLogged.text && now - this.lastLogged.at < RELOG_MS) return;
    this.lastLogged = { text: error, at: now };
    this.opts.log[level](msg, { shard: this.name, error });
  }
}
