/**
 * `comet watch`: tails the cluster's activity and presence transitions from the broker, one line
 * each (or one JSON object with its `kind`), filtered by type, uid and room. Reads only: the
 * embedded broker's backend accounts may do this too.
 */
import { randomBytes } from "node:crypto";
import { type Command, Option } from "commander";
import type { IClientOptions, MqttClient } from "mqtt";
import { WEBHOOK_EVENTS } from "../config/load.ts";
import { BROKER_SCHEMES, brokerAddress, brokerScheme, showUrl } from "../bridge/settings.ts";
import { CliError, usageError } from "./output.ts";

export interface WatchOptions {
  mqtt: string;
  activityTopic: string;
  presenceTopic: string;
  type?: string[];
  uid?: string;
  rid?: string;
  json?: boolean;
  count?: string;
}

export interface Watched {
  kind: "activity" | "presence";
  type: string;
  uid: string;
  rid: string;
  server: string;
  time: string;
  since?: string;
}

/** A message of either topic, read leniently (what the bridge wrote), or undefined. */
export function readWatched(kind: Watched["kind"], payload: Buffer): Watched | undefined {
  try {
    const o = JSON.parse(payload.toString("utf8")) as Record<string, unknown>;
    if (typeof o.type !== "string" || typeof o.uid !== "string") return undefined;
    const str = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");
    const w: Watched = { kind, type: o.type, uid: o.uid, rid: str(o.rid), server: str(o.server), time: str(o.time) };
    if (kind === "presence") w.since = str(o.since);
    return w;
  } catch {
    return undefined;
  }
}

/** `presence.OFFLINE` names a transition, `OFFLINE` the activity: as webhooks' `events` do. */
const nameOf = (w: Watched): string => (w.kind === "presence" ? `presence.${w.type}` : w.type);

const shown = (v: string): string => (v === "" || /[\s"=]/.test(v) ? JSON.stringify(v) : v);

export function formatWatched(w: Watched): string {
  const ms = /^\d+$/.test(w.time) ? Number(BigInt(w.time) / 1_000_000n) : Number.NaN;
  const at = Number.isFinite(ms) ? new Date(ms).toISOString() : "?";
  const since = w.since ? ` since=${new Date(Number(BigInt(w.since) / 1_000_000n)).toISOString()}` : "";
  return `${at} ${w.kind.padEnd(8)} ${w.type.padEnd(10)} uid=${shown(w.uid)} rid=${shown(w.rid)} server=${shown(w.server)}${since}`;
}

export async function watch(o: WatchOptions): Promise<void> {
  const types = new Set(
    (o.type ?? [])
      .flatMap((t) => t.split(","))
      .map((t) => t.trim())
      .filter(Boolean),
  );
  for (const t of types) {
    if (!WEBHOOK_EVENTS.includes(t))
      throw usageError(`watch: --type: expected one of ${WEBHOOK_EVENTS.join(", ")}, got ${JSON.stringify(t)}`);
  }
  let left = o.count === undefined ? Number.POSITIVE_INFINITY : Number(o.count);
  if (!Number.isSafeInteger(left) && left !== Number.POSITIVE_INFINITY) {
    throw usageError(`watch: --count: expected a whole number, got ${JSON.stringify(o.count)}`);
  }
  if (left < 1) throw usageError(`watch: --count: expected at least 1, got ${o.count}`);
  const url = o.mqtt;
  if (!brokerScheme(url)) {
    throw usageError(
      `watch: --mqtt: expected a broker URL like mqtt://127.0.0.1:1883 (${BROKER_SCHEMES.join(", ")}), got ${JSON.stringify(showUrl(url))}`,
    );
  }
  const options: IClientOptions = {
    clientId: `comet-watch-${randomBytes(6).toString("hex")}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    connectTimeout: 10_000,
    ...brokerAddress(url),
  };
  // Loaded only by this command: mqtt.js is not in memory for the others (serve without a bridge).
  const { connect } = await import("mqtt");
  const client: MqttClient = connect(options);
  const kinds = new Map<string, Watched["kind"]>([
    [o.activityTopic, "activity"],
    [o.presenceTopic, "presence"],
  ]);
  await new Promise<void>((resolve, reject) => {
    const stop = (err?: Error) => {
      client.end(true);
      if (err) reject(err);
      else resolve();
    };
    client.on("error", (err) => stop(new CliError(`watch: broker ${showUrl(url)}: ${err.message}`)));
    client.on("close", () => stop(new CliError(`watch: broker ${showUrl(url)} closed the connection`)));
    client.once("connect", () => {
      client.subscribe([...kinds.keys()], { qos: 0 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos === 128).map((g) => g.topic);
        if (err || refused.length > 0) {
          stop(
            new CliError(
              `watch: broker ${showUrl(url)} refused the subscription to ${err ? err.message : refused.join(", ")}`,
            ),
          );
          return;
        }
        // On stderr, so that stdout stays the events alone (for jq and tests alike).
        process.stderr.write(`watching ${[...kinds.keys()].join(" and ")} on ${showUrl(url)}\n`);
      });
    });
    client.on("message", (topic, payload) => {
      // Messages already read when the count was reached are not printed.
      if (left <= 0) return;
      const kind = kinds.get(topic);
      const w = kind && readWatched(kind, payload);
      if (!w) return;
      if (types.size > 0 && !types.has(nameOf(w))) return;
      if ((o.uid !== undefined && w.uid !== o.uid) || (o.rid !== undefined && w.rid !== o.rid)) return;
      process.stdout.write(`${o.json ? JSON.stringify(w) : formatWatched(w)}\n`);
      if (--left === 0) stop();
    });
    process.once("SIGINT", () => stop());
  });
}

export function registerWatch(program: Command): Command {
  return program
    .command("watch")
    .description("tail activity and presence transitions from the broker (mqtt.activity_topic, mqtt.presence_topic)")
    .addOption(
      new Option("--mqtt <url>", "the broker, credentials included (mqtt://user:pass@host:1883)")
        .env("COMET_MQTT_URL")
        .default("mqtt://127.0.0.1:1883"),
    )
    .option("--activity-topic <topic>", "mqtt.activity_topic", "comet/user-activity")
    .option("--presence-topic <topic>", "mqtt.presence_topic", "comet/presence")
    .option("--type <types...>", `only these (comma-separated or repeated): ${WEBHOOK_EVENTS.join(", ")}`)
    .option("--uid <uid>", "only this user's")
    .option("--rid <rid>", "only this room's")
    .option("--json", "one JSON object per line, with its kind (activity or presence)")
    .option("--count <n>", "exit after this many lines")
    .addHelpText(
      "after",
      `
Examples:
  comet watch --type presence.ONLINE,presence.OFFLINE
  comet watch --uid alice --json | jq .`,
    )
    .action((opts: WatchOptions) => watch(opts));
}
