/**
 * Every configuration key, its type, its default and its doc, in one place: `comet config defaults`
 * prints them (config.example.yaml is that output). A key appears here once the capability that
 * uses it exists, so an unknown key is always a start-up error rather than a setting that silently
 * does nothing.
 */
import {
  accounts,
  bool,
  type ConfigOf,
  dur,
  int,
  isLeaf,
  type Leaf,
  listen,
  oneOf,
  type SchemaNode,
  section,
  size,
  str,
  strings,
  webhooks,
} from "./leaf.ts";

export type { Account, ConfigOf, Leaf, LeafKind, Listen, SchemaNode, WebhookConfig } from "./leaf.ts";
export { isLeaf, sectionDoc } from "./leaf.ts";

const AUTH = {
  timeout: dur("10s", "the first uplink (AUTH) must arrive within this, else the connection is closed 4408"),
  jwt: section(
    'how subscribers\' tokens are verified: set exactly one of hs256_secret, public_key_file and jwks_file (serve refuses to start with none; --dev makes a secret). The accepted algorithms are pinned to it, so alg: none and HS256 tokens "signed" with a public key are refused',
    {
      hs256_secret: str(
        "",
        "HS256 shared secret, at least 32 bytes (`comet token --gen-secret` makes one); better from the environment: COMET_AUTH_JWT_HS256_SECRET",
      ),
      public_key_file: str("", "PEM public key: RSA (RS256), EC P-256 (ES256) or P-384 (ES384), or Ed25519 (EdDSA)"),
      jwks_file: str(
        "",
        "a JWKS document (JSON) on disk; a token's kid picks the key. To rotate: add the new key, SIGHUP, sign with it, remove the old one once its tokens have expired",
      ),
      audience: str("", "when set, tokens must carry this aud"),
      clock_tolerance: dur("5s", "leeway for exp and nbf", 0),
    },
  ),
  rooms: oneOf(
    ["open", "claim"],
    "open",
    'a token\'s rooms claim lists the rooms it may join (exact rids, and prefixes ending in *: "team-42/*"); without one, open: any room, claim: no room (Publish and world Broadcast still arrive)',
  ),  revocation_ttl: dur(
    "24h",
    "how long a Disconnect's revoke refuses the uid's tokens issued until then (AUTH closed 4401 token revoked); set it to your longest token lifetime. Kept cluster-wide on the broker with the bridge, else in this instance's memory",
    1000,
  ),
};

const LIMITS = {
  max_connections: int(
    0,
    "subscribers' connections (WebSocket, gRPC, SSE/NDJSON) per instance, per worker under workers (a full worker stops accepting until it is down to 90%, and the others take the new ones); 0 = the open-file limit less 64 and 2% for the process's own files; over it: close 4503",
  ),
  max_uplink_bytes: int(4096, "a larger uplink frame closes the connection 1009", 16),
  max_evt_bytes: int(65536, "a larger evt (UTF-8 bytes) in the API is refused 413", 1),
  max_body_bytes: int(1048576, "a larger HTTP API body is refused 413", 16),
  max_batch_commands: int(1000, "the most commands one Batch may carry; more: 413 for the whole request", 1),
  uplink_rate: int(
    20,
    "uplink frames (and WebSocket pings) per second per connection, burst 2x; over it: close 4429; 0 = no limit",
  ),
  max_send_buffer: int(
    1048576,
    "bytes queued to one slow client before it is cut (a WebSocket is terminated, the peer sees 1006; a stream's response is aborted)",
    1024,
  ),
  connects_per_ip_per_second: int(
    0,
    "subscriptions opened per client address per second (the peer's, or X-Forwarded-For from trusted_proxies); over it: HTTP 429; 0 = no limit",
  ),
};

const MQTT = section(
  "the bridge to an MQTT broker, which makes instances one cluster: on when url or embedded.listen is set",
  {
    url: str(
      "",
      "broker URL: mqtt://, mqtts://, ws:// or wss://, e.g. mqtt://127.0.0.1:1883; empty = bridge off unless embedded.listen is set",
    ),
    events_topic: str("comet/events", 'every instance subscribes here for Events, JSON {"uid"?, "rid"?, "evt"}'),
    activity_topic: str(
      "comet/user-activity",
      "user activity goes out here (and is read back from the other instances)",
    ),
    presence_topic: str(
      "comet/presence",
      "presence transitions go out here: debounced ONLINE / OFFLINE, one per real change",
    ),
    activity: strings(
      ["ONLINE", "OFFLINE", "HEARD", "ENTER_ROOM", "LEAVE_ROOM"],
      "activity types sent out; keep ONLINE for one session per uid across the cluster",
    ),
    qos: int(0, "0, 1 or 2: for the subscriptions and for the activity published"),
    queue: int(10000, "outgoing activity held while the broker is away; the oldest overflow is dropped and counted"),
    username: str("", "broker user name (also accepted in the URL); on the embedded broker: the instances' account"),
    password: str("", "broker password; better from the environment: COMET_MQTT_PASSWORD"),
    cluster_key: str(
      "",
      'recommended on a shared broker: activity, server statuses, presence views and cluster DumpSession messages are signed (HMAC-SHA256, "sig"; a key of at least 32 bytes), and any without a valid signature never closes a session, changes the presence view or is answered here; the same on every instance',
    ),
    routing: oneOf(
      ["off", "on"],
      "off",
      "on: also subscribe <events_topic>/u/<uid>, /r/<rid> and /w for the users and rooms held here, so each instance receives only its own Events",
    ),
    forward_api: bool(
      false,
      "true: Publish, Broadcast and Batch over HTTP or gRPC reach the whole cluster (sent on over the broker), once; DumpSession answers for it (Presence always does)",
    ),
    tls: section("for mqtts:// and wss:// brokers", {
      ca_file: str("", "PEM CA bundle to verify the broker; empty = the system CAs"),
      cert_file: str("", "PEM client certificate, for brokers that ask for one; with key_file"),
      key_file: str("", "PEM private key of cert_file"),
    }),
    embedded: section("an MQTT broker run in-process, which the bridge joins", {
      listen: str(
        "",
        "HOST:PORT, e.g. 127.0.0.1:1883: run the broker there; off loopback (0.0.0.0, ::, :1883, an outside address) mqtt.username and mqtt.password are required",
      ),
      publishers: accounts(
        "backends' accounts, [{username: billing, password: ...}]: they may publish to events_topic (and events_topic/...) and subscribe to activity_topic and presence_topic, nothing else; from the environment: COMET_MQTT_EMBEDDED_PUBLISHERS=billing:secret,audit:secret (passwords without commas there). Anonymous clients get in as publishers only on loopback with no account of either kind",
      ),
      max_packet_bytes: int(
        0,
        "a client whose packet announces more is disconnected before it is read; 0 = limits.max_body_bytes + 1024",
      ),
    }),
  },
);

export const SCHEMA = {
  namespace: str("io.goeasy", "the issuer (iss) that subscribers' tokens must carry"),
  listen: listen("0.0.0.0:8080", "HOST:PORT for HTTP (the API, /healthz, /readyz, /metrics), WebSocket and SSE/NDJSON"),
  auth: AUTH,
  admin: {
    tokens: strings(
      [],
      "bearer tokens for the HTTP and gRPC API (Publish, Broadcast, Batch, DumpSession, ...), 16 characters or more (serve refuses to start with none; --dev makes one); past 20 wrong ones a second from one client address: 429",
    ),
  },
  heartbeat: {
    interval: dur("60s", "probe a connection silent this long; close it 4408 after 3x"),
  },
  limits: LIMITS,
  websocket: {
    compression: oneOf(
      ["off", "on"],
      "off",
      "on: permessage-deflate with the clients that offer it (Bun only: Deno refuses to start); a compressed uplink that inflates past limits.max_uplink_bytes: close 1009",
    ),
    compression_min_bytes: int(256, "downlink frames smaller than this (UTF-8 bytes) are sent uncompressed"),
  },
  history: section(
    "delivery positions and recovery: messages kept per stream (a user's, a room's, the world's) for a reconnecting client's recover",
    {
      size: int(32, "messages kept per stream; 0 = none (positions are still sent)"),
      ttl: dur("2m", "how long a message is kept, and a stream outlives its last session (or room member)"),
      max_bytes: size("64MiB", "one budget for every kept message of the instance, oldest out first (memory store)"),
      store: oneOf(
        ["memory", "redis"],
        "memory",
        "memory: each instance numbers and keeps its own streams (a reconnect to another instance or worker recovers nothing); redis: one log per stream in Redis, shared by every instance and kept across restarts, so positions are the cluster's and recover works anywhere",
      ),
      redis: section("the shared log, with store: redis (Redis 7 or Valkey 7+; no Redis Cluster needed)", {
        urls: strings(
          [],
          "one redis:// or rediss:// URL per shard (redis://:PASSWORD@host:6379/0); the streams are spread over them by name, each on exactly one; add shards at the end. Empty = redis://127.0.0.1:6379",
        ),
        prefix: str("comet", 'starts every key ("<prefix>:pos:<stream>", "<prefix>:log:<stream>"), so deployments can share a server'),
        fill_wait: dur(
          "100ms",
          "a receiving instance that misses a message of a stream waits this long for it (from the broker, else read from the log) before it delivers what follows as a jump in seq",
        ),
      }),
    },
  ),
  allowed_origins: strings(
    [],
    "browser upgrades and SSE/NDJSON streams: the Origin values allowed, like https://app.example.com (others: 403; no Origin header passes); empty = any",
  ),
  trusted_proxies: strings(
    [],
    "addresses or CIDR ranges (10.0.0.0/8) of proxies whose X-Forwarded-For is believed, for the client address",
  ),
  tls: section("both set = https and wss on listen (and gRPC over TLS on grpc.listen)", {
    cert_file: str("", "PEM certificate chain, the server's own first"),
    key_file: str("", "PEM private key of cert_file; one that does not match it stops the start"),
  }),
  workers: int(
    1,
    "processes serving listen (and grpc.listen) together with SO_REUSEPORT, under a supervisor that restarts them; 0 = one per CPU; `serve --workers N` overrides it (Bun only)",
  ),
  shutdown: {
    drain: dur(
      "10s",
      "on SIGTERM/SIGINT: sessions are closed 1001 spread over this, the API serving until the last; a second signal exits at once",
      0,
    ),
  },
  presence: {
    offline_grace: dur(
      "0s",
      "a uid goes OFFLINE (presence topic, webhooks) only after this long with no session on any instance: a reconnect within it is no transition; e.g. 5s",
      0,
    ),
  },
  webhooks: webhooks(
    [
      "backends without a broker get activity and presence by HTTP POST (JSON arrays of at most 100 events), e.g.:",
      "- url: https://backend.example.com/comet",
      "  events: [presence.ONLINE, presence.OFFLINE]",
      '  secret: "..."',
      "  timeout: 5s",
      'events: presence.ONLINE, presence.OFFLINE and the activity types ONLINE, OFFLINE, HEARD, ENTER_ROOM, LEAVE_ROOM; secret: 16 characters or more, signs each request (Comet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">); timeout: per request, 5s when absent; a failed request is retried with backoff for up to a minute. From the environment: COMET_WEBHOOKS, the list as JSON',
    ].join("\n"),
  ),
  ui: {
    enabled: bool(
      false,
      "the demo page at / (and POST /ui/token, where admin token holders mint subscriber tokens), served with a Content-Security-Policy of its own origin only; on in --dev",
    ),
  },
  mqtt: MQTT,
  grpc: {
    listen: str(
      "",
      "HOST:PORT for gRPC (comet.Comet of proto/comet.proto over HTTP/2); empty = off; it uses tls.* and admin.tokens too",
    ),
  },
  log: {
    level: oneOf(["debug", "info", "warn", "error"], "info", "debug | info | warn | error"),
    format: oneOf(["json", "pretty"], "json", "json (one object per line on stderr, stable keys) | pretty"),
  },
} satisfies SchemaNode;

export type Config = ConfigOf<typeof SCHEMA>;

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
