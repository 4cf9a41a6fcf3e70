/**
 * The shared log in Redis (history.store: redis): every stream's numbering and kept messages live
 * in one Redis server of `urls`, chosen by the stream's name, so that every instance of a cluster,
 * and an instance after a restart, sees the same seq and epoch. The layout in Redis and the Lua
 * that keeps it are in redis-scripts.ts; connections and failing fast in redis-shard.ts.
 */
import { setImmediate } from "node:timers";
import type { Logger } from "../log.ts";
import { type HistoryLog, HistoryUnavailable, type LogEntry, type Position } from "../broker/history-log.ts";
import { APPEND, APPEND_ONCE, PEEK, READ, TOP } from "./redis-scripts.ts";
import { Shard } from "./redis-shard.ts";
import { redactUrl, shardOf } from "./shards.ts";

export interface RedisLogOptions {
  /**
   * One redis:// (or rediss://) URL per shard; each stream lives on exactly one, chosen by its
   * name. Their order is part of the placement: add shards at the end (few streams move).
   */
  urls: string[];
  /** Starts every key ("<prefix>:pos:<stream>", "<prefix>:log:<stream>"), so deployments can share a server. */
  prefix: string;
  /** Messages kept per stream (history.size); 0 numbers them and keeps none. */
  size: number;
  /** How long a message is kept, and a stream lives after its last append (history.ttl), in ms. */
  ttlMs: number;
  log: Logger;
  /** After each round trip to a shard: its seconds and whether it succeeded (comet_history_store_seconds, errors). */
  onCommand?: (seconds: number, ok: boolean) => void;
  /** One connection attempt gives up after this; default 1000 ms. */
  connectTimeoutMs?: number;
  /** A command unanswered by then fails, and its shard counts as unreachable until one succeeds; default 1000 ms. */
  commandTimeoutMs?: number;
  /** Commands awaiting an answer per shard, at most (more fail at once); default 10,000. */
  maxInFlight?: number;
}

/** A random suffix for an epoch the store may make (its scripts have no randomness of their own). */
function nonce(): string {
  const r = new Uint32Array(1);
  crypto.getRandomValues(r);
  return (r[0] as number).toString(36).padStart(7, "0").slice(-6);
}

const isSeq = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;

/** Appends coalesced into one script call, at most (a script runs alone on its server: keep each short). */
const MAX_COALESCED = 256;

interface Queued {
  stream: string;
  evt: string;
  resolve(p: Position): void;
  reject(err: unknown): void;
}

export class RedisLog implements HistoryLog {
  /** Its shards, in the order of urls (revocations share their connections: redis-revocations.ts). */
  readonly shards: readonly Shard[];
  /** Appends waiting for the end of this turn of the event loop, per shard. */
  private queued: Map<number, Queued[]> | undefined;
  private readonly size: string;
  private readonly ttl: string;

  constructor(private readonly opts: RedisLogOptions) {
    if (opts.urls.length === 0) throw new Error("history.redis.urls: at least one URL is needed");
    for (const url of opts.urls) checkUrl(url);
    if (!isSeq(opts.size)) throw new Error(`history.size: expected a non-negative integer, got ${opts.size}`);
    if (!Number.isSafeInteger(opts.ttlMs) || opts.ttlMs < 1) {
      throw new Error(`history.ttl: expected at least 1 ms, got ${opts.ttlMs}`);
    }
    this.size = String(opts.size);
    this.ttl = String(opts.ttlMs);
    this.shards = opts.urls.map(
      (url) =>
        new Shard({
          url,
          log: opts.log,
          connectTimeoutMs: opts.connectTimeoutMs ?? 1000,
          commandTimeoutMs: opts.commandTimeoutMs ?? 1000,
          maxInFlight: opts.maxInFlight ?? 10_000,
          onCommand: opts.onCommand,
        }),
    );
  }

  /** Resolves true once every shard is connected, false when timeoutMs passes first (the log works from then on anyway). */
  async ready(timeoutMs: number): Promise<boolean> {
    const all = await Promise.all(this.shards.map((s) => s.ready(timeoutMs)));
    return all.every(Boolean);
  }

  /** The shard that keeps `stream` (its index in urls). */
  shardIndex(stream: string): number {
    return shardOf(stream, this.shards.length);
  }

  /**
   * Appends that come within one turn of the event loop (concurrent API requests) share one script
   * call per shard, in the order they came: one round trip and one reply to read for all of them.
   */
  append(stream: string, evt: string): Promise<Position> {
    return new Promise((resolve, reject) => {
      const s = this.shardIndex(stream);
      if (!this.queued) {
        this.queued = new Map();
        setImmediate(() => this.flush());
      }
      const list = this.queued.get(s);
      const item = { stream, evt, resolve, reject };
      if (list) list.push(item);
      else this.queued.set(s, [item]);
    });
  }

  private flush(): void {
    const queued = this.queued;
    this.queued = undefined;
    for (const [s, all] of queued ?? []) {
      for (let i = 0; i < all.length; i += MAX_COALESCED) {
        const part = all.slice(i, i + MAX_COALESCED);
        this.appendOn(s, part).then(
          (ps) => {
            for (let k = 0; k < part.length; k++) (part[k] as Queued).resolve(ps[k] as Position);
          },
          (err: unknown) => {
            for (const item of part) item.reject(err);
          },
        );
      }
    }
  }

  async appendMany(items: ReadonlyArray<{ stream: string; evt: string }>): Promise<Position[]> {
    if (items.length === 0) return [];
    // Item indexes per shard, in order: each shard takes its part in one script call.
    const parts = new Map<number, number[]>();
    items.forEach((item, i) => {
      const s = this.shardIndex(item.stream);
      const part = parts.get(s);
      if (part) part.push(i);
      else parts.set(s, [i]);
    });
    const out: Array<Position | undefined> = new Array(items.length);
    const failures: HistoryUnavailable[] = [];
    await Promise.all(
      [...parts].map(async ([s, idx]) => {
        try {
          const positions = await this.appendOn(
            s,
            idx.map((i) => items[i] as { stream: string; evt: string }),
          );
          idx.forEach((i, k) => {
            out[i] = positions[k];
          });
        } catch (err) {
          failures.push(err as HistoryUnavailable);
        }
      }),
    );
    const failed = failures[0];
    if (failed) {
      const context = `${failed.context} (${failures.length} of ${parts.size} shards failed)`;
      throw new HistoryUnavailable(context, { cause: failed, landed: out });
    }
    return out as Position[];
  }

  async appendOnce(stream: string, evt: string, mark: string, windowMs: number): Promise<Position & { first: boolean }> {
    const shard = this.shards[this.shardIndex(stream)] as Shard;
    const what = `append once ${stream}`;
    const keys = [...this.keys(stream), `${this.opts.prefix}:once:${stream}:${mark}`];
    const args = [this.size, this.ttl, nonce(), String(windowMs), evt, this.deadline()];
    const reply = await shard.run(APPEND_ONCE, keys, args, what);
    if (!Array.isArray(reply) || reply.length !== 3) throw unexpected(`${what} on ${shard.name}`, reply);
    const [p] = positions(reply.slice(0, 2), 1, `${what} on ${shard.name}`);
    return { ...(p as Position), first: reply[2] === 1 };
  }

  async peek(stream: string): Promise<Position | null> {
    const shard = this.shards[this.shardIndex(stream)] as Shard;
    const what = `peek ${stream}`;
    const reply = await shard.run(PEEK, [this.keys(stream)[0]], [], what);
    if (reply === null) return null;
    const [p] = positions(reply, 1, `${what} on ${shard.name}`);
    return p as Position;
  }

  async since(stream: string, from: Position): Promise<LogEntry[] | null> {
    // A seq past 2^53 (or not a count) is ahead of any stream: not recoverable, no need to ask.
    if (!isSeq(from.seq)) return null;
    return this.read(stream, from.epoch, from.seq, "", `since ${stream}`);
  }

  async range(stream: string, after: number, upTo: number, epoch: string): Promise<LogEntry[] | null> {
    if (!isSeq(after) || !isSeq(upTo) || after > upTo) return null;
    return this.read(stream, epoch, after, String(upTo), `range ${stream}`);
  }

  /** Reading does not keep a stream alive: it dies ttl after its last append (or after top() made it). */
  async top(stream: string): Promise<Position> {
    const shard = this.shards[this.shardIndex(stream)] as Shard;
    const reply = await shard.run(TOP, this.keys(stream), [this.ttl, nonce()], `top ${stream}`);
    const [p] = positions(reply, 1, `top ${stream} on ${shard.name}`);
    return p as Position;
  }

  notReady(): string | undefined {
    const down = this.shards.flatMap((s) => {
      const why = s.notReady();
      return why === undefined ? [] : [`history store shard ${s.name} unreachable: ${why}`];
    });
    return down.length === 0 ? undefined : down.join("; ");
  }

  /** Checks every shard with a PING (a hung server is noticed between publications); never rejects. */
  async ping(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.ping()));
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }

  /**
   * When a caller stops waiting for an append (the command timeout), as Redis should read it: a
   * command that reaches a server that hung is run when it wakes, after its caller answered 503;
   * the script then appends nothing. Assumes this host's clock and Redis's agree within a fraction
   * of the timeout (NTP does).
   */
  private deadline(): string {
    return String(Date.now() + (this.opts.commandTimeoutMs ?? 1000));
  }

  private keys(stream: string): [string, string] {
    return [`${this.opts.prefix}:pos:${stream}`, `${this.opts.prefix}:log:${stream}`];
  }

  private async appendOn(s: number, items: ReadonlyArray<{ stream: string; evt: string }>): Promise<Position[]> {
    const shard = this.shards[s] as Shard;
    const what = items.length === 1 ? `append ${items[0]?.stream}` : `append of ${items.length} messages`;
    const keys = items.flatMap((i) => this.keys(i.stream));
    const args = [this.size, this.ttl, nonce(), this.deadline(), ...items.map((i) => i.evt)];
    const reply = await shard.run(APPEND, keys, args, what);
    if (reply === null) throw new HistoryUnavailable(`${what} on ${shard.name}: ran after its deadline, not appended`);
    return positions(reply, items.length, `${what} on ${shard.name}`);
  }

  private async read(stream: string, epoch: string, after: number, upTo: string, what: string) {
    const shard = this.shards[this.shardIndex(stream)] as Shard;
    const reply = await shard.run(READ, this.keys(stream), [epoch, String(after), upTo, this.ttl], what);
    return entries(reply, `${what} on ${shard.name}`);
  }
}

function checkUrl(url: string): void {
  let scheme: string;
  try {
    scheme = new URL(url).protocol;
  } catch {
    throw new Error(`history.redis.urls: not a URL: ${redactUrl(url)}`);
  }
  if (scheme !== "redis:" && scheme !== "rediss:") {
    throw new Error(`history.redis.urls: expected redis:// or rediss://, got ${scheme}//`);
  }
}

/** {epoch, seq, epoch, seq, ...} as `count` positions; anything else is a store we do not understand. */
function positions(reply: unknown, count: number, what: string): Position[] {
  if (!Array.isArray(reply) || reply.length !== 2 * count) throw unexpected(what, reply);
  const out: Position[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const epoch = reply[i];
    const seq = reply[i + 1];
    if (typeof epoch !== "string" || typeof seq !== "number") throw unexpected(what, reply);
    out.push({ epoch, seq });
  }
  return out;
}

/** null, or {seq, evt, seq, evt, ...} as entries. */
function entries(reply: unknown, what: string): LogEntry[] | null {
  if (reply === null) return null;
  if (!Array.isArray(reply) || reply.length % 2 !== 0) throw unexpected(what, reply);
  const out: LogEntry[] = [];
  for (let i = 0; i < reply.length; i += 2) {
    const seq = reply[i];
    const evt = reply[i + 1];
    if (typeof seq !== "number" || typeof evt !== "string") throw unexpected(what, reply);
    out.push({ seq, evt });
  }
  return out;
}

function unexpected(what: string, reply: unknown): HistoryUnavailable {
  const shape = Array.isArray(reply) ? `an array of ${reply.length}` : typeof reply;
  return new HistoryUnavailable(`${what}: unexpected reply (${shape})`);
}
