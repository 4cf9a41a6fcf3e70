/** YAML file + environment + flags → one validated, frozen Config. Later sources override earlier ones. */
import { readFileSync } from "node:fs";
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import { formatDuration, parseDuration } from "./duration.ts";
import { parseSize } from "./size.ts";
import { ConfigError } from "../errors.ts";
import { ACTIVITY_NAMES } from "../protocol/activity.ts";
import {
  type Account,
  type Config,
  envName,
  isLeaf,
  type Leaf,
  leaves,
  SCHEMA,
  type SchemaNode,
  type WebhookConfig,
} from "./schema.ts";

export { ConfigError };

export interface LoadOptions {
  /** A YAML file to read (from --config or COMET_CONFIG). */
  file?: string;
  /** YAML text instead of a file (tests). */
  yaml?: string;
  /** Environment to read COMET_* overrides from. */
  env?: Record<string, string | undefined>;
  /** Flag overrides by dotted path, e.g. { listen: "127.0.0.1:0" }; applied last. */
  overrides?: Record<string, unknown>;
}

const show = (v: unknown): string => (typeof v === "string" ? JSON.stringify(v) : String(JSON.stringify(v)));

/**
 * `fromText`: the value is a string from the environment or a flag, to be read as the leaf's type;
 * `from`: the environment variable it came from, named in errors.
 */
function coerce(path: string, leaf: Leaf, raw: unknown, fromText: boolean, from?: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(path, `expected ${expected}, got ${show(raw)}`, { from });
  };
  const k = leaf.kind;
  switch (k.type) {
    case "string":
      if (typeof raw !== "string") fail("a string");
      return raw;
    case "enum":
      if (typeof raw !== "string" || !k.values.includes(raw)) fail(`one of ${k.values.join(" | ")}`);
      return raw;
    case "duration": {
      const ms = parseDuration(raw);
      if (ms === undefined) fail('a duration like "30s" (units: ms, s, m, h)');
      if ((ms as number) < k.min) fail(`a duration of at least ${formatDuration(k.min)}`);
      return ms;
    }
    case "int": {
      let n = raw;
      if (fromText && typeof raw === "string" && /^\d+$/.test(raw.trim())) n = Number(raw.trim());
      if (typeof n !== "number" || !Number.isSafeInteger(n)) fail("a whole number");
      if ((n as number) < k.min) fail(`a whole number of at least ${k.min}`);
      return n;
    }
    case "size": {
      const n = parseSize(raw);
      if (n === undefined) fail('a size like "64MiB" (units: B, KiB, MiB, GiB) or a byte count');
      if ((n as number) < k.min) fail(`a size of at least ${k.min} bytes`);
      return n;
    }
    case "strings": {
      if (fromText && typeof raw === "string") {
        return raw
          .split(",")
          .map((s) => s.trim())
          .filter((s) => s !== "");
      }
      if (!Array.isArray(raw) || raw.some((s) => typeof s !== "string")) fail("a list of strings");
      return [...(raw as string[])];
    }
    case "accounts":
      return readAccounts(path, raw, fromText, from);
    case "webhooks":
      return readWebhooks(path, raw, fromText, from);
    case "listen":
      return parseListen(path, raw);
    case "bool":
      if (typeof raw === "boolean") return raw;
      if (fromText && typeof raw === "string" && /^(true|false|1|0)$/i.test(raw.trim())) {
        return /^(true|1)$/i.test(raw.trim());
      }
      return fail("true or false");
  }
}

/**
 * A list of {username, password}; from the environment "user:password,user:password". Errors name
 * the entry by its index and never echo it: it holds a password.
 */
function readAccounts(path: string, raw: unknown, fromText: boolean, from?: string): Account[] {
  const fail = (at: string, expected: string): never => {
    throw new ConfigError(`${path}${at}`, `expected ${expected}`, { from });
  };
  let items: unknown[];
  if (fromText && typeof raw === "string") {
    items = raw
      .split(",")
      .filter((s) => s.trim() !== "")
      .map((s) => {
        const colon = s.indexOf(":");
        return colon < 0 ? {} : { username: s.slice(0, colon).trim(), password: s.slice(colon + 1) };
      });
  } else if (Array.isArray(raw)) {
    items = raw;
  } else {
    return fail("", fromText ? 'a list like "user:password,user2:password2"' : "a list of {username, password}");
  }
  return items.map((a, i) => {
    const { username, password, ...rest } = (a !== null && typeof a === "object" ? a : {}) as Record<string, unknown>;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) fail(`[${i}].${extra}`, "only username and password");
    if (typeof username !== "string" || username === "") fail(`[${i}].username`, "a non-empty string");
    if (typeof password !== "string" || password === "") fail(`[${i}].password`, "a non-empty string");
    return { username, password } as Account;
  });
}

/** What a webhook's `events` may name: activity types, and presence transitions. */
export const WEBHOOK_EVENTS: readonly string[] = [...ACTIVITY_NAMES, "presence.ONLINE", "presence.OFFLINE"];
/** A secret anyone could guess signs nothing: as for admin tokens. */
export const MIN_WEBHOOK_SECRET_CHARS = 16;
const WEBHOOK_KEYS = ["url", "events", "secret", "timeout"];

/**
 * A list of {url, events, secret, timeout}; from the environment, the list as JSON. Errors name the
 * entry by its index and never echo the secret, nor the URL (it may carry credentials).
 */
function readWebhooks(path: string, raw: unknown, fromText: boolean, from?: string): WebhookConfig[] {
  const fail = (at: string, expected: string): never => {
    throw new ConfigError(`${path}${at}`, `expected ${expected}`, { from });
  };
  let items = raw;
  if (fromText && typeof raw === "string") {
    try {
      items = raw.trim() === "" ? [] : JSON.parse(raw);
    } catch {
      fail("", 'a JSON list like [{"url": "https://...", "events": ["presence.OFFLINE"], "secret": "..."}]');
    }
  }
  if (!Array.isArray(items)) return fail("", "a list of {url, events, secret, timeout}");
  return items.map((w, i) => {
    if (w === null || typeof w !== "object" || Array.isArray(w))
      return fail(`[${i}]`, "a mapping {url, events, secret, timeout}");
    const o = w as Record<string, unknown>;
    const extra = Object.keys(o).find((k) => !WEBHOOK_KEYS.includes(k));
    if (extra !== undefined) fail(`[${i}].${extra}`, `only ${WEBHOOK_KEYS.join(", ")}`);
    let url: URL | undefined;
    try {
      url = typeof o.url === "string" ? new URL(o.url) : undefined;
    } catch {}
    if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
      fail(`[${i}].url`, "an http:// or https:// URL");
    const events = o.events;
    if (!Array.isArray(events) || events.length === 0) {
      return fail(`[${i}].events`, `a non-empty list of ${WEBHOOK_EVENTS.join(", ")}`);
    }
    for (const e of events) {
      if (typeof e !== "string" || !WEBHOOK_EVENTS.includes(e)) {
        fail(`[${i}].events`, `names from ${WEBHOOK_EVENTS.join(", ")}, got ${show(e)}`);
      }
    }
    if (typeof o.secret !== "string" || [...o.secret].length < MIN_WEBHOOK_SECRET_CHARS) {
      fail(`[${i}].secret`, `a string of at least ${MIN_WEBHOOK_SECRET_CHARS} characters`);
    }
    let timeout = 5000;
    if (o.timeout !== undefined) {
      const ms = parseDuration(o.timeout);
      if (ms === undefined || ms < 1) fail(`[${i}].timeout`, `a duration like "5s", got ${show(o.timeout)}`);
      timeout = ms as number;
    }
    return { url: o.url as string, events: [...new Set(events as string[])], secret: o.secret as string, timeout };
  });
}

/** An address only this machine can reach; a wildcard (0.0.0.0, ::, an empty host) is not one. */
export function isLoopback(host: string): boolean {
  return /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+|localhost)$/i.test(host);
}

export function parseListen(path: string, raw: unknown): { host: string; port: number } {
  const fail = (): never => {
    throw new ConfigError(path, `expected HOST:PORT like "0.0.0.0:8080", got ${show(raw)}`);
  };
  if (typeof raw !== "string") return fail();
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(raw.trim());
  if (!m) return fail();
  const host = (m[1] ?? m[2] ?? "") || "0.0.0.0";
  const port = Number(m[3]);
  if (port > 65535) fail();
  return { host, port };
}

export function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split(".");
  let node = target;
  for (const p of parts.slice(0, -1)) {
    node[p] ??= {};
    node = node[p] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

/** Walks a parsed YAML document against the schema; unknown keys and wrong shapes are errors. */
function applyYaml(target: Record<string, unknown>, doc: unknown, schema: SchemaNode, prefix: string): void {
  if (doc === null || doc === undefined) return;
  if (typeof doc !== "object" || Array.isArray(doc)) {
    const where = prefix === "" ? " at the top level" : "";
    throw new ConfigError(prefix || undefined, `expected a mapping of keys${where}, got ${show(doc)}`);
  }
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const node = schema[key];
    if (node === undefined || !Object.hasOwn(schema, key)) {
      const known = Object.keys(schema).join(", ");
      throw new ConfigError(path, `unknown key (known here: ${known})`);
    }
    if (isLeaf(node)) setPath(target, path, coerce(path, node, value, false));
    else applyYaml(target, value, node, path);
  }
}

export function parseYaml(text: string, source: string): unknown {
  const lines = new LineCounter();
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: false, lineCounter: lines });
  const e = doc.errors[0];
  if (e) {
    const at = `${source}:${lines.linePos(e.pos[0]).line}`;
    // yaml's own text ("Map keys must be unique") leaves the reader to find which key, in which mapping.
    const key = e.code === "DUPLICATE_KEY" ? keyPathAt(doc.contents, e.pos[0], "") : undefined;
    if (key !== undefined) throw new ConfigError(key, "key given twice", { at });
    throw new ConfigError(undefined, e.message.split("\n")[0] as string, { at });
  }
  return doc.toJS();
}

/** The dotted path of the mapping key whose text starts at offset, which is where yaml places a DUPLICATE_KEY. */
function keyPathAt(node: unknown, offset: number, prefix: string): string | undefined {
  if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = keyPathAt(item, offset, `${prefix}[${i}]`);
      if (found !== undefined) return found;
    }
  }
  if (!isMap(node)) return undefined;
  for (const { key, value } of node.items) {
    const name = String(isScalar(key) ? key.value : key);
    const path = prefix ? `${prefix}.${name}` : name;
    if (isScalar(key) && key.range?.[0] === offset) return path;
    const found = keyPathAt(value, offset, path);
    if (found !== undefined) return found;
  }
  return undefined;
}

export function loadConfig(opts: LoadOptions = {}): Config {
  const cfg: Record<string, unknown> = {};
  // Defaults are written as the file writes them, and read the same way.
  for (const [path, leaf] of leaves()) setPath(cfg, path, coerce(path, leaf, leaf.default, false));
  let text = opts.yaml;
  let source = "(inline)";
  if (text === undefined && opts.file) {
    source = opts.file;
    try {
      text = readFileSync(opts.file, "utf8");
    } catch (err) {
      throw new ConfigError(undefined, `cannot read ${opts.file}: ${(err as Error).message}`);
    }
  }
  if (text !== undefined) applyYaml(cfg, parseYaml(text, source), SCHEMA, "");

  const env = opts.env ?? {};
  for (const [path, leaf] of leaves()) {
    const raw = env[envName(path)];
    if (raw !== undefined) setPath(cfg, path, coerce(path, leaf, raw, true, envName(path)));
  }
  for (const [path, raw] of Object.entries(opts.overrides ?? {})) {
    if (raw === undefined) continue;
    const leaf = leaves().find(([p]) => p === path)?.[1];
    if (!leaf) throw new ConfigError(path, "unknown key");
    setPath(cfg, path, coerce(path, leaf, raw, true));
  }
  return deepFreeze(cfg) as unknown as Config;
}

export function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object") {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
