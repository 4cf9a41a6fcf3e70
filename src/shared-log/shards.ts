/**
 * Which shard keeps a stream, and how a shard is named where people read it. Every instance must
 * place a stream on the same shard, whatever its runtime or process: the choice depends on the
 * stream's name and the number of shards only.
 */

/** murmur3's finalizer: every input bit moves every output bit (FNV-1a alone mixes its last bytes poorly). */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const encoder = new TextEncoder();

/** FNV-1a over the name's UTF-8 bytes, finalized: stable across runtimes and restarts. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (const b of encoder.encode(name)) h = Math.imul(h ^ b, 0x01000193);
  return mix(h);
}

/**
 * The shard of a stream among `count`, by rendezvous hashing: each shard scores the name and the
 * highest score wins. Adding a shard at the end moves only the streams it wins (about 1 in
 * count + 1), where `hash % count` would move nearly all of them: a moved stream starts a new
 * epoch on its new shard, so its clients must SYNC once.
 */
export function shardOf(stream: string, count: number): number {
  if (count <= 1) return 0;
  const h = hashName(stream);
  let best = 0;
  let bestScore = -1;
  for (let i = 0; i < count; i++) {
    // A distinct seed per shard index, so that the scores of one name are independent.
    const score = mix(h ^ mix(i + 0x9e3779b9));
    if (score > bestScore) {
      best = i;
      bestScore = score;
    }
  }
  return best;
}

/** The URL as logs and /readyz may show it: the password replaced by "***". */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    // Not a URL: show only its scheme-like start, as the rest might hold a secret.
    return `${url.split(":")[0] ?? ""}:(unparsable URL)`;
  }
}
