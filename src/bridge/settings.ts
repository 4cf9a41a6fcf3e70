/**
 * The mqtt.* keys checked together and turned into what the bridge needs. The generic loader checks
 * each key alone; the rules that span keys (URL scheme vs TLS files, url vs embedded broker, the
 * activity names) live here, and still stop the server at start with a message that names the key.
 */
import type { Qos } from "./wire/qos.ts";
import { readFileSync } from "node:fs";
import { ConfigError, isLoopback, parseListen } from "../config/load.ts";
import type { Account, Config } from "../config/schema.ts";
import { ACTIVITY_NAMES, type ActivityName, isActivityName } from "../hub/activity.ts";
import { type CommandLimits, commandLimits } from "../protocol/commands.ts";

/** The broker URL schemes mqtt.js connects with: the bridge and `comet publish --mqtt` accept the same. */
export const BROKER_SCHEMES = ["mqtt", "mqtts", "ws", "wss"] as const;
export type BrokerScheme = (typeof BROKER_SCHEMES)[number];
const TLS_SCHEMES: readonly BrokerScheme[] = ["mqtts", "wss"];

/** The scheme of a URL when it is a broker's, else undefined (a URL of another scheme, or no URL). */
export function brokerScheme(url: string): BrokerScheme | undefined {
  let protocol: string;
  try {
    protocol = new URL(url).protocol.slice(0, -1);
  } catch {
    return undefined;
  }
  return BROKER_SCHEMES.find((s) => s === protocol);
}

export interface BridgeSettings {
  /** The broker to connect to; undefined until the embedded broker has its port. */
  url: string | undefined;
  eventsTopic: string;
  activityTopic: string;
  presenceTopic: string;
  activity: ReadonlySet<ActivityName>;
  qos: Qos;
  queue: number;
  username: string | undefined;
  password: string | undefined;
  /** mqtt.cluster_key: signs activity, server statuses and presence out; what comes in must carry a valid signature. */
  clusterKey: string | undefined;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer };
  embedded: EmbeddedSettings | undefined;
  /** Inbound Event limits: the same as the HTTP API's body and evt limits. */
  limits: CommandLimits;
  /** mqtt.routing: on: subscribe the routed topics of what this instance holds (topics.ts). */
  routing: boolean;
  /** mqtt.forward_api: the HTTP and gRPC API act on the whole cluster. */
  forwardApi: boolean;
}

export interface EmbeddedSettings {
  host: string;
  port: number;
  /** Backends' accounts: publish to the events topics, read the activity topic. */
  publishers: readonly Account[];
  /** Anonymous clients are let in, as backends: only on loopback, with no account of either kind. */
  anonymous: boolean;
  /** A client that sends a larger packet is disconnected before the packet is read. */
  maxPacketBytes: number;
}

const fail = (key: string, expected: string, got: unknown): never => {
  throw new ConfigError(key, `expected ${expected}, got ${JSON.stringify(got)}`);
};

/** undefined when the bridge is off (neither mqtt.url nor mqtt.embedded.listen set). */
export function bridgeSettings(config: Config): BridgeSettings | undefined {
  const mqtt = config.mqtt;
  const activity = new Set<ActivityName>();
  for (const name of mqtt.activity) {
    if (!isActivityName(name)) return fail("mqtt.activity", `names from ${ACTIVITY_NAMES.join(", ")}`, name);
    activity.add(name);
  }
  if (mqtt.qos > 2) fail("mqtt.qos", "0, 1 or 2", mqtt.qos);
  checkTopics(mqtt);
  const embedded = embeddedSettings(config);
  if (embedded && mqtt.url !== "") {
    throw new ConfigError(
      "mqtt.url",
      "set, and so is mqtt.embedded.listen: set mqtt.url to bridge to a broker, or mqtt.embedded.listen to run one in-process and bridge to it",
    );
  }
  if (mqtt.url === "" && !embedded) {
    // Both act through the broker: without one, the operator would believe in a cluster that is not there.
    if (mqtt.routing === "on")
      fail("mqtt.routing", '"off" while the bridge is off (mqtt.url and mqtt.embedded.listen empty)', mqtt.routing);
    if (mqtt.forward_api)
      fail("mqtt.forward_api", "false while the bridge is off (mqtt.url and mqtt.embedded.listen empty)", true);
    return undefined;
  }
  let scheme: BrokerScheme = "mqtt";
  if (mqtt.url !== "") {
    let u: URL;
    try {
      u = new URL(mqtt.url);
    } catch {
      return fail("mqtt.url", 'a URL like "mqtt://127.0.0.1:1883"', mqtt.url);
    }
    const given = brokerScheme(mqtt.url);
    if (!given || u.hostname === "") {
      return fail("mqtt.url", `a URL like "mqtt://127.0.0.1:1883" (schemes: ${BROKER_SCHEMES.join(", ")})`, mqtt.url);
    }
    scheme = given;
  }
  const tls = brokerTls(mqtt, scheme, embedded !== undefined);
  return {
    url: mqtt.url === "" ? undefined : mqtt.url,
    eventsTopic: mqtt.events_topic,
    activityTopic: mqtt.activity_topic,
    presenceTopic: mqtt.presence_topic,
    activity,
    qos: mqtt.qos as Qos,
    queue: mqtt.queue,
    username: mqtt.username || undefined,
    password: mqtt.password || undefined,
    clusterKey: mqtt.cluster_key || undefined,
    tls,
    embedded,
    limits: commandLimits(config.limits),
    routing: mqtt.routing === "on",
    forwardApi: mqtt.forward_api,
  };
}

type MqttConfig = Config["mqtt"];

/** The three topics are valid, apart, and outside comet/servers. */
function checkTopics(mqtt: MqttConfig): void {
  checkTopic("mqtt.events_topic", mqtt.events_topic);
  checkTopic("mqtt.activity_topic", mqtt.activity_topic);
  checkTopic("mqtt.presence_topic", mqtt.presence_topic);
  if (mqtt.events_topic === mqtt.activity_topic) {
    throw new ConfigError(
      "mqtt.activity_topic",
      `must differ from mqtt.events_topic (both ${JSON.stringify(mqtt.events_topic)})`,
    );
  }
  for (const [key, other] of [
    ["mqtt.events_topic", mqtt.events_topic],
    ["mqtt.activity_topic", mqtt.activity_topic],
  ]) {
    if (mqtt.presence_topic === other) {
      throw new ConfigError("mqtt.presence_topic", `must differ from ${key} (both ${JSON.stringify(other)})`);
    }
  }
  if (mqtt.presence_topic.startsWith("comet/servers/") || mqtt.presence_topic === "comet/servers") {
    throw new ConfigError(
      "mqtt.presence_topic",
      `${JSON.stringify(mqtt.presence_topic)} is under comet/servers, where instances keep their statuses`,
    );
  }
}

/** mqtt.tls.*: only with a TLS scheme, cert and key together; the PEM files read. */
function brokerTls(mqtt: MqttConfig, scheme: BrokerScheme, embedded: boolean): BridgeSettings["tls"] {
  const tlsKeys = { ca_file: mqtt.tls.ca_file, cert_file: mqtt.tls.cert_file, key_file: mqtt.tls.key_file };
  const tlsSet = Object.entries(tlsKeys).filter(([, v]) => v !== "");
  if (tlsSet.length > 0 && !TLS_SCHEMES.includes(scheme)) {
    const [key] = tlsSet[0] as [string, string];
    const why = embedded
      ? "the embedded broker speaks plain mqtt:// (put a TLS proxy in front of it)"
      : `mqtt.url is ${scheme}:// (no TLS): use mqtts:// or wss://`;
    throw new ConfigError(`mqtt.tls.${key}`, `set, but ${why}`);
  }
  if ((mqtt.tls.cert_file === "") !== (mqtt.tls.key_file === "")) {
    const [empty, set] = mqtt.tls.cert_file === "" ? ["cert_file", "key_file"] : ["key_file", "cert_file"];
    throw new ConfigError(`mqtt.tls.${empty}`, `empty, but mqtt.tls.${set} is set: set both or neither`);
  }
  const tls: BridgeSettings["tls"] = {};
  if (mqtt.tls.ca_file) tls.ca = readPem("mqtt.tls.ca_file", mqtt.tls.ca_file);
  if (mqtt.tls.cert_file) tls.cert = readPem("mqtt.tls.cert_file", mqtt.tls.cert_file);
  if (mqtt.tls.key_file) tls.key = readPem("mqtt.tls.key_file", mqtt.tls.key_file);
  return tls;
}

/** The least a packet limit may be: the bridge's own CONNECT and activity must fit with room to spare. */
const MIN_PACKET_BYTES = 1024;

function embeddedSettings(config: Config): EmbeddedSettings | undefined {
  const { embedded: e, username, password } = config.mqtt;
  if (e.listen === "") {
    if (e.publishers.length > 0) {
      throw new ConfigError(
        "mqtt.embedded.publishers",
        "set, but mqtt.embedded.listen is not (they are accounts on the embedded broker)",
      );
    }
    return undefined;
  }
  const { host, port } = parseListen("mqtt.embedded.listen", e.listen);
  const accounts = username !== "" || password !== "";
  if (accounts && (username === "" || password === "")) {
    throw new ConfigError(
      `mqtt.${username === "" ? "username" : "password"}`,
      `empty, but mqtt.${username === "" ? "password" : "username"} is set: the embedded broker's instance account needs both`,
    );
  }
  // Other instances need the account to join, and anonymous clients would get a backend's rights:
  // anyone who reaches the address could push to any user and read everyone's activity.
  if (!accounts && !isLoopback(host)) {
    throw new ConfigError(
      "mqtt.embedded.listen",
      `${JSON.stringify(e.listen)} is reachable from other machines, so set mqtt.username and mqtt.password (the instances' account; backends get mqtt.embedded.publishers), or listen on 127.0.0.1`,
    );
  }
  const names = new Set([username]);
  for (const [i, p] of e.publishers.entries()) {
    if (names.has(p.username)) {
      throw new ConfigError(
        `mqtt.embedded.publishers[${i}].username`,
        `${JSON.stringify(p.username)} is taken (by mqtt.username or an earlier publisher)`,
      );
    }
    names.add(p.username);
  }
  if (e.max_packet_bytes !== 0 && e.max_packet_bytes < MIN_PACKET_BYTES) {
    fail(
      "mqtt.embedded.max_packet_bytes",
      `0 (limits.max_body_bytes + 1024) or at least ${MIN_PACKET_BYTES}`,
      e.max_packet_bytes,
    );
  }
  return {
    host,
    port,
    publishers: e.publishers,
    anonymous: !accounts && e.publishers.length === 0,
    // Room for the topic and the headers around the largest Event the bridge accepts.
    maxPacketBytes: e.max_packet_bytes || config.limits.max_body_bytes + 1024,
  };
}

function checkTopic(key: string, topic: string): void {
  // The same name is a subscription and a publish target, so it cannot hold wildcards.
  if (topic === "" || /[+#]/.test(topic) || topic.includes("\u0000"))
    fail(key, "a topic name without the wildcards + and #", topic);
}

function readPem(key: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new ConfigError(key, `cannot read ${file}: ${(err as Error).message}`);
  }
}

/** The URL with its password hidden: for logs, errors and /readyz. */
export function showUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password === "") return url;
    u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

export interface BrokerAddress {
  protocol: BrokerScheme;
  hostname: string;
  host: string;
  port?: number;
  path?: string;
  username?: string;
  password?: string;
}

/**
 * A broker URL as mqtt.js connection options, read with the WHATWG URL parser: given a string,
 * mqtt.js calls the deprecated url.parse(), whose warning a compiled binary prints on every start.
 */
export function brokerAddress(url: string): BrokerAddress {
  const u = new URL(url);
  const protocol = u.protocol.slice(0, -1) as BrokerScheme;
  const hostname = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
  const a: BrokerAddress = { protocol, hostname, host: hostname };
  if (u.port !== "") a.port = Number(u.port);
  if (protocol === "ws" || protocol === "wss") a.path = `${u.pathname || "/"}${u.search}`;
  if (u.username !== "") a.username = decodeURIComponent(u.username);
  if (u.password !== "") a.password = decodeURIComponent(u.password);
  return a;
}
