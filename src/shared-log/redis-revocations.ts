/**
 * Revocations kept in Redis (history.store: redis), for the whole cluster and across restarts.
 *
 * Each one is `<prefix>:revoked:<uid>` = `{"at","expires"}` on the shard its key hashes to (the
 * log's placement: shards.ts), expiring at `expires` (PEXPIREAT). One script writes it only when
 * its `at` is later than the one stored (two instances revoking a uid at once keep the later) and
 * announces it on `<prefix>:revoked`, which every instance subscribes to on every shard, so that
 * each adds it to its RevocationTable at once. The table is what every AUTH asks: `revoked()`
 * stays synchronous and local.
 *
 * Read before ready: after its SUBSCRIBE (so that nothing announced meanwhile is missed), each
 * shard's revocations are read in full (SCAN) into the table; /readyz answers 503 until every shard
 * was read once. After a reconnect of a shard's subscriber (announcements may have been missed)
 * the shard is read again, and what this instance holds and the shard lacks (a Redis restarted
 * empty) is written back.
 *
 * A revocation that cannot be written (its shard unreachable) rejects with HistoryUnavailable: the
 * Disconnect answers 503 and neither revokes nor closes anything (execute.ts), so that the operator
 * retries a whole action rather than leave sessions closed whose tokens still work.
 */
import type { Revocation, RevocationStore, RevocationTable } from "../auth/revocations.ts";
import type { Logger } from "../log.ts";
import type { RedisLog } from "./redis-log.ts";
import { script } from "./redis-scripts.ts";
import type { Shard } from "./redis-shard.ts";
import { shardOf } from "./shards.ts";

/** KEYS[1] the revocation's key; ARGV: at, expires, the value, the channel, the announcement. */
export const REVOKE = script(`#!lua
local held = redis.call('GET', KEYS[1])
if held then
  local ok, v = pcall(cjson.decode, held)
  if ok and type(v) == 'table' and tonumber(v.at) and tonumber(v.at) >= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[3])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
`);

/** A read that failed (the shard away) is tried again after this. */
const RETRY_MS = 1000;
/** Keys asked per SCAN step, and read per MGET. */
const SCAN_COUNT = "500";

type Subscriber = ReturnType<Shard["duplicate"]>;

/** SCAN MATCH reads these as a glob: the prefix stands for itself. */
const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, "\\$&");

export class RedisRevocations implements RevocationStore {
  private readonly keyPrefix: string;
  private readonly channel: string;
  /** Per shard: whether it was read in full once (readiness). */
  private readonly read: boolean[];
  private readonly subscribers: Subscriber[];
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(
    private readonly log: RedisLog,
    prefix: string,
    private readonly table: RevocationTable,
    private readonly logger: Logger,
  ) {
    this.keyPrefix = `${prefix}:revoked:`;
    this.channel = `${prefix}:revoked`;
    this.read = log.shards.map(() => false);
    this.subscribers = log.shards.map((shard, i) => this.subscribe(shard, i));
  }

  async revoke(uid: string): Promise<Revocation> {
    const r = this.table.draft(uid);
    await this.write(r);
    return this.table.keep(r);
  }

  revoked(uid: string, iatMs: number | undefined): boolean {
    return this.table.revoked(uid, iatMs);
  }

  list(): Revocation[] {
    return this.table.list();
  }

  /** For /readyz: undefined once every shard's revocations were read. */
  notReady(): string | undefined {
    const unread = this.log.shards.filter((_, i) => !this.read[i]).map((s) => s.name);
    return unread.length === 0 ? undefined : `history store: reading the revocations kept on ${unread.join(", ")}`;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    // One that is reconnecting (Redis away) just stops: a goodbye would wait for a server that is not there.
    for (const s of this.subscribers) if (s.isOpen && !s.isReady) s.destroy();
    await Promise.all(this.subscribers.map((s) => (s.isReady ? s.close().catch(() => s.destroy()) : undefined)));
  }

  private shardOfUid(uid: string): Shard {
    return this.log.shards[shardOf(this.keyPrefix + uid, this.log.shards.length)] as Shard;
  }

  /** Rejects with HistoryUnavailable when the shard cannot take it. */
  private async write(r: Revocation): Promise<void> {
    const value = JSON.stringify({ at: r.at, expires: r.expires });
    const message = JSON.stringify({ uid: r.uid, at: r.at, expires: r.expires });
    const args = [String(r.at), String(r.expires), value, this.channel, message];
    await this.shardOfUid(r.uid).run(REVOKE, [this.keyPrefix + r.uid], args, `revoke ${r.uid}`);
  }

  private subscribe(shard: Shard, i: number): Subscriber {
    const sub = shard.duplicate();
    let subscribed = false;
    // The shard's own connection reports the outage (logs, /readyz): this one is the same server.
    sub.on("error", () => {});
    // A reconnect subscribes again before it is ready; what was announced while away is read anew.
    sub.on("ready", () => {
      if (subscribed) this.readShard(i);
    });
    const start = (): void => {
      if (this.closed) return;
      const ready = sub.isReady ? Promise.resolve() : sub.isOpen ? waitReady(sub) : sub.connect().then(() => {});
      ready
        .then(() => sub.subscribe(this.channel, (m) => this.heard(m)))
        .then(() => {
          subscribed = true;
          this.readShard(i);
        })
        .catch(() => this.later(start));
    };
    start();
    return sub;
  }

  /** An announcement: a revocation made on some instance (this one too: already held). */
  private heard(message: string): void {
    const r = parse(message);
    if (r) this.table.add(r);
  }

  /** Every revocation kept on shard i into the table; then what the shard lacks is written back. */
  private readShard(i: number): void {
    if (this.closed) return;
    const shard = this.log.shards[i] as Shard;
    this.scan(shard)
      .then((seen) => {
        this.read[i] = true;
        let written = 0;
        for (const r of this.table.list()) {
          if (this.shardOfUid(r.uid) !== shard || (seen.get(r.uid) ?? -1) >= r.at) continue;
          this.write(r).catch(() => {});
          written++;
        }
        this.logger.info("revocations read from the history store", { shard: shard.name, read: seen.size, written_again: written });
      })
      .catch((err: unknown) => {
        this.logger.warn("revocations not read from the history store yet", { shard: shard.name, error: String(err) });
        this.later(() => this.readShard(i));
      });
  }

  /** SCAN and MGET over the shard's revocations; answers uid → `at` of what it read. */
  private async scan(shard: Shard): Promise<Map<string, number>> {
    const seen = new Map<string, number>();
    const match = `${globEscape(this.keyPrefix)}*`;
    let cursor = "0";
    do {
      const reply = await shard.command(["SCAN", cursor, "MATCH", match, "COUNT", SCAN_COUNT], "scan revocations");
      const [next, keys] = reply as [string, string[]];
      cursor = next;
      if (keys.length === 0) continue;
      const values = (await shard.command(["MGET", ...keys], "read revocations")) as Array<string | null>;
      keys.forEach((key, k) => {
        const v = objectOf(values[k]);
        if (!v || !Number.isSafeInteger(v.at) || !Number.isSafeInteger(v.expires)) return;
        const r = { uid: key.slice(this.keyPrefix.length), at: v.at as number, expires: v.expires as number };
        seen.set(r.uid, r.at);
        this.table.add(r);
      });
    } while (cursor !== "0");
    return seen;
  }

  private later(f: () => void): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      f();
    }, RETRY_MS);
    this.timers.add(t);
  }
}

function waitReady(sub: Subscriber): Promise<void> {
  return new Promise((resolve) => sub.once("ready", () => resolve()));
}

function parse(message: string): Revocation | undefined {
  const o = objectOf(message);
  if (!o) return undefined;
  const { uid, at, expires } = o;
  if (typeof uid !== "string" || uid === "" || !Number.isSafeInteger(at) || !Number.isSafeInteger(expires)) return undefined;
  return { uid, at: at as number, expires: expires as number };
}

function objectOf(text: string | null | undefined): Record<string, unknown> | undefined {
  if (typeof text !== "string") return undefined;
  try {
    const o: unknown = JSON.parse(text);
    return typeof o === "object" && o !== null && !Array.isArray(o) ? (o as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
