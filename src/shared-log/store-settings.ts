/**
 * history.store and history.redis checked together and turned into what the shared log needs
 * (src/shared-log/redis-log.ts). A bad URL stops the start with a message that names its key.
 */
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { redactUrl } from "./shards.ts";

/** Where Redis is looked for when history.redis.urls is empty. */
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";

export interface RedisStoreSettings {
  urls: string[];
  prefix: string;
  /** ms a receiving instance waits for a missing seq before it delivers what follows as a jump. */
  fillWait: number;
  /** history.size and history.ttl (ms): the log keeps as much, as long. */
  size: number;
  ttlMs: number;
}

/** undefined with history.store: memory (the instance's own history, hub/history.ts). */
export function redisStoreSettings(cfg: Config): RedisStoreSettings | undefined {
  const h = cfg.history;
  if (h.store !== "redis") return undefined;
  const urls = h.redis.urls.length > 0 ? [...h.redis.urls] : [DEFAULT_REDIS_URL];
  for (const [i, url] of urls.entries()) checkRedisUrl(url, `history.redis.urls[${i}]`);
  if (h.redis.prefix === "") throw new ConfigError("history.redis.prefix", "must not be empty");
  return { urls, prefix: h.redis.prefix, fillWait: h.redis.fill_wait, size: h.size, ttlMs: h.ttl };
}

function checkRedisUrl(url: string, key: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(key, `not a URL: ${redactUrl(url)}`);
  }
  if (u.protocol !== "redis:" && u.protocol !== "rediss:") {
    throw new ConfigError(key, `expected redis:// or rediss://, got ${u.protocol}//`);
  }
  if (u.hostname === "") throw new ConfigError(key, `no host in ${redactUrl(url)}`);
}
