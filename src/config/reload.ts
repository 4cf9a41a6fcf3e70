/**
 * What a reload (SIGHUP) may change in a running instance, and what it may not. The keys below are
 * read afresh on every AUTH or request, so swapping them drops nothing. Every other key is held by
 * something built once at start (a bound socket, a broker link, a timer, a topic per room):
 * applying it would mean tearing that down, so it waits for a restart and is named instead.
 */
import { deepFreeze, setPath } from "./load.ts";
import { type Config, leaves } from "./schema.ts";

/** Dotted paths; one ending in "." covers every key under it. */
export const RELOADABLE: readonly string[] = ["admin.tokens", "auth.jwt.", "log.level", "webhooks"];

/** Whether SIGHUP applies the key at this dotted path. */
export const isReloadable = (path: string): boolean =>
  RELOADABLE.some((r) => (r.endsWith(".") ? path.startsWith(r) : path === r));

export interface ReloadPlan {
  /** The running config with the reloadable keys taken from the new one: what runs next. */
  applied: Config;
  /** Reloadable keys whose value changed, in schema order. */
  changed: string[];
  /** Keys whose value changed but that only a restart applies, in schema order. */
  restart: string[];
}

function valueAt(cfg: Config, path: string): unknown {
  let node: unknown = cfg;
  for (const p of path.split(".")) node = (node as Record<string, unknown>)[p];
  return node;
}

// Values are strings, numbers, booleans, string lists and {host, port}: their JSON is their identity.
const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

export function planReload(running: Config, next: Config): ReloadPlan {
  const applied = structuredClone(running) as unknown as Record<string, unknown>;
  const changed: string[] = [];
  const restart: string[] = [];
  for (const [path] of leaves()) {
    const now = valueAt(running, path);
    const then = valueAt(next, path);
    if (same(now, then)) continue;
    if (isReloadable(path)) {
      changed.push(path);
      setPath(applied, path, structuredClone(then));
    } else restart.push(path);
  }
  return { applied: deepFreeze(applied) as unknown as Config, changed, restart };
}
