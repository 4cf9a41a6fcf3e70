/**
 * Every configuration key, its type and its default, in one place (config.example.yaml documents
 * them for operators); a key appears here once the capability that uses it exists, so an unknown
 * key is always a start-up error rather than a setting that silently does nothing.
 */
import { parseDuration } from "./duration.ts";
import { parseSize } from "./size.ts";

export type LeafKind =
  | { type: "string" }
  | { type: "listen" }
  | { type: "duration"; min: number }
  | { type: "int"; min: number }
  | { type: "size"; min: number }
  | { type: "enum"; values: readonly string[] }
  | { type: "strings" }
  | { type: "accounts" }
  | { type: "webhooks" }
  | { type: "bool" };

/** A user name and password a broker lets in. */
export interface Account {
  username: string;
  password: string;
}

/** One backend that receives activity and presence transitions by HTTP POST (webhooks/). */
export interface WebhookConfig {
  url: string;
  /** Activity names (ONLINE, ...) and presence transitions (presence.ONLINE, presence.OFFLINE). */
  events: string[];
  secret: string;
  /** Per request, ms. */
  timeout: number;
}

/** What a listen key becomes once parsed. */
export interface Listen {
  host: string;
  port: number;
}

// Type-only: carries a leaf's parsed value type, so Config can be read off SCHEMA and never written
// out by hand. It is never set at run time; a leaf's default can differ from it (a duration's default
// is written "10s", a listen address "HOST:PORT").
declare const VALUE: unique symbol;

export interface Leaf<T = unknown> {
  kind: LeafKind;
  default: unknown;
  doc: string;
  readonly [VALUE]?: T;
}

export type SchemaNode = { [key: string]: SchemaNode | Leaf };

/** The value a schema describes: a leaf's parsed type at every leaf, the same nesting above. */
export type ConfigOf<S> = { [K in keyof S]: S[K] extends Leaf<infer T> ? T : ConfigOf<S[K]> };

const str = (def: string, doc: string): Leaf<string> => ({ kind: { type: "string" }, default: def, doc });
const listen = (def: string, doc: string): Leaf<Listen> => ({ kind: { type: "listen" }, default: def, doc });
const dur = (def: string, doc: string, min = 1): Leaf<number> => ({
  kind: { type: "duration", min },
  default: parseDuration(def),
  doc,
});
const int = (def: number, doc: string, min = 0): Leaf<number> => ({ kind: { type: "int", min }, default: def, doc });
const size = (def: string, doc: string, min = 0): Leaf<number> => ({
  kind: { type: "size", min },
  default: parseSize(def),
  doc,
});
const strings = (def: string[], doc: string): Leaf<string[]> => ({ kind: { type: "strings" }, default: def, doc });
const accounts = (doc: string): Leaf<Account[]> => ({ kind: { type: "accounts" }, default: [], doc });
const webhooks = (doc: string): Leaf<WebhookConfig[]> => ({ kind: { type: "webhooks" }, default: [], doc });
const bool = (def: boolean, doc: string): Leaf<boolean> => ({ kind: { type: "bool" }, default: def, doc });
const oneOf = <const V extends readonly string[]>(
  values: V,
  def: NoInfer<V[number]>,
  doc: string,
): Leaf<V[number]> => ({
  kind: { type: "enum", values },
  default: def,
  doc,
});

export const SCHEMA = {
  namespace: str("io.goeasy", "the issuer (iss) subscribers' tokens must carry"),
  listen: listen("0.0.0.0:8080", "HOST:PORT for HTTP and WebSocket"),
  auth: {
    timeout: dur("10s", "the first uplink (AUTH) must arrive within this"),
    jwt: {
      hs256_secret: str("", "HS256 shared secret, at least 32 bytes"),
      public_key_file: str("", "PEM public key: RS256 / ES256 / EdDSA"),
      jwks_file: str("", "a JWKS document on disk"),
      audience: str("", "checked when set"),
      clock_tolerance: dur("5s", "leeway for exp / nbf", 0),
    },
    rooms: oneOf(["open", "claim"], "open", "open: no rooms claim = any room; claim: no claim = no room"),
  },
  admin: {
    tokens: strings([], "bearer tokens for the HTTP API, 16 characters or more"),
  },
  heartbeat: {
    interval: dur("60s", "probe a connection silent this long; close it after 3x"),
  },
  limits: {
    max_connections: int(
      0,
      "open connections per process (per worker under --workers: a full one stops accepting until down to 90%); 0 = the open-file limit less 64 and 2% for the process's own files; over it: close 4503",
    ),
    max_uplink_bytes: int(4096, "larger uplink frames are closed 1009", 16),
    max_evt_bytes: int(65536, "larger evt (UTF-8 bytes) is refused 413", 1),
    max_body_bytes: int(1048576, "larger HTTP API bodies are refused 413", 16),
    max_batch_commands: int(1000, "the most commands one Batch may carry; more: 413 for the whole request", 1),
    uplink_rate: int(20, "frames (and WebSocket pings) per second per connection, burst 2x; 0 = no limit"),
    max_send_buffer: int(1048576, "bytes queued to one slow client before it is terminated", 1024),
    connects_per_ip_per_second: int(0, "WebSocket upgrades per client address per second; 0 = no limit"),
  },
  websocket: {
    compression: oneOf(["off", "on"], "off", "on: negotiate permessage-deflate with clients that offer it (Bun only)"),
    compression_min_bytes: int(256, "downlink frames smaller than this (UTF-8 bytes) go uncompressed"),
  },
  history: {
    size: int(32, "messages kept per stream (a user's, a room's, the world's); 0 = none (positions still sent)"),
    ttl: dur("2m", "how long a message is kept, and a stream outlives its last session"),
    max_bytes: size("64MiB", "one budget for every stream's kept messages; the oldest go first"),
  },
  allowed_origins: strings([], "Origins allowed to upgrade from a browser; empty = any"),
  trusted_proxies: strings([], "addresses (or CIDR ranges) whose X-Forwarded-For is believed"),
  tls: {
    cert_file: str("", "PEM certificate chain; with key_file: serve https/wss"),
    key_file: str("", "PEM private key of cert_file; one that does not match stops the start"),
  },
  workers: int(
    1,
    "processes serving listen (and grpc.listen) together with SO_REUSEPORT, under a supervisor; 0 = one per CPU",
  ),
  shutdown: {
    drain: dur("10s", "on SIGTERM/SIGINT, sessions are closed 1001 spread over this", 0),
  },
  presence: {
    offline_grace: dur("0s", "a uid goes OFFLINE only after this long with no session on any instance", 0),
  },
  webhooks: webhooks(
    "[{url, events, secret, timeout: 5s}]: activity and presence POSTed in signed batches; env: the list as JSON",
  ),
  ui: {
    enabled: bool(false, "serve the demo page at / (on in --dev)"),
  },
  mqtt: {
    url: str("", "broker URL (mqtt://, mqtts://, ws://, wss://); empty = bridge off unless embedded.listen is set"),
    events_topic: str("comet/events", "every instance subscribes here for Event JSON {uid?, rid?, evt}"),
    activity_topic: str("comet/user-activity", "user activity JSON goes out here; instances also read it"),
    presence_topic: str("comet/presence", "presence transitions (debounced ONLINE / OFFLINE) go out here"),
    activity: strings(
      ["ONLINE", "OFFLINE", "HEARD", "ENTER_ROOM", "LEAVE_ROOM"],
      "activity types sent out; keep ONLINE for one session per uid across the cluster",
    ),
    qos: int(0, "0, 1 or 2: for the subscriptions and for activity out"),
    queue: int(10000, "outgoing activity held while the broker is away; the oldest overflow is dropped"),
    username: str("", "broker user name (also accepted in the URL)"),
    password: str("", "broker password (env COMET_MQTT_PASSWORD keeps it out of files)"),
    cluster_key: str(
      "",
      "signs activity, server statuses and presence (HMAC-SHA256); instances then ignore any without a valid signature",
    ),
    routing: oneOf(
      ["off", "on"],
      "off",
      "on: also subscribe <events_topic>/u/<uid>, /r/<rid> and /w for what this instance holds, so each instance receives only its own users' and rooms' Events",
    ),
    forward_api: bool(
      false,
      "true: Publish, Broadcast and Batch over HTTP or gRPC reach the whole cluster (sent on over the broker), DumpSession answers for it (Presence always does)",
    ),
    tls: {
      ca_file: str("", "PEM CA bundle to verify the broker (mqtts:// or wss://); empty = system CAs"),
      cert_file: str("", "PEM client certificate, for brokers that require one"),
      key_file: str("", "PEM private key of cert_file"),
    },
    embedded: {
      listen: str("", "HOST:PORT: run an MQTT broker in-process and bridge to it"),
      publishers: accounts("backends' accounts: publish Events, read activity; env: user:password,..."),
      max_packet_bytes: int(0, "a larger MQTT packet disconnects its client; 0 = limits.max_body_bytes + 1024"),
    },
  },
  grpc: {
    listen: str("", "HOST:PORT for gRPC (comet.Comet over HTTP/2); empty = gRPC off"),
  },
  log: {
    level: oneOf(["debug", "info", "warn", "error"], "info", "debug | info | warn | error"),
    format: oneOf(["json", "pretty"], "json", "json | pretty"),
  },
} satisfies SchemaNode;

export type Config = ConfigOf<typeof SCHEMA>;

export function isLeaf(node: SchemaNode | Leaf): node is Leaf {
  return "kind" in node && "doc" in node && typeof (node as Leaf).doc === "string";
}

/** Every leaf with its dotted path, in schema order. */
export function leaves(node: SchemaNode = SCHEMA, prefix = ""): Array<[string, Leaf]> {
  const out: Array<[string, Leaf]> = [];
  for (const [key, child] of Object.entries(node)) {
    const path = prefix ? `${prefix}.${key}` : key;
    if (isLeaf(child)) out.push([path, child]);
    else out.push(...leaves(child, path));
  }
  return out;
}

/** The environment variable that overrides a key: COMET_ + the path in upper case, dots as "_". */
export function envName(path: string): string {
  return `COMET_${path.replaceAll(".", "_").toUpperCase()}`;
}
