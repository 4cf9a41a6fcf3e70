/** `--mqtt URL` for publish and broadcast: the Event goes through the broker to every instance. */
import type { Command } from "commander";
import { type OutgoingEvent, SendError, sendEvent } from "../bridge/wire/send.ts";
import { RoutedTopics } from "../bridge/routing/topics.ts";
import { readConfig } from "./config.ts";
import { CliError, usageError } from "./output.ts";

export interface MqttOptions {
  mqtt?: string;
  topic?: string;
  routing?: string;
  config?: string;
  qos: string;
}

export function addMqttOptions(cmd: Command): Command {
  return cmd
    .option(
      "--mqtt <url>",
      "send the Event through this MQTT broker instead of the HTTP API (mqtt://user:pass@host:1883)",
    )
    .option("--topic <topic>", "with --mqtt: the events topic (default: the serve config's mqtt.events_topic)")
    .option(
      "--routing <on|off>",
      "with --mqtt: on publishes to the routed topic, <topic>/u/<uid>, /r/<rid> or /w (default: the serve config's mqtt.routing)",
    )
    .option(
      "-c, --config <file>",
      "with --mqtt: the serve config, for mqtt.events_topic and mqtt.routing (env COMET_CONFIG)",
    )
    .option("--qos <n>", "with --mqtt: 0, 1 or 2", "0");
}

/**
 * The topic an Event goes to: the serve config's (or --topic's) events topic, or with routing on
 * the routed topic every instance that holds the user or room subscribes to (docs/protocol.md).
 */
export function brokerTopic(command: string, o: MqttOptions, event: OutgoingEvent): string {
  if (o.routing !== undefined && o.routing !== "on" && o.routing !== "off") {
    throw usageError(`${command}: --routing: expected on or off, got "${o.routing}"`);
  }
  const needsConfig = o.topic === undefined || o.routing === undefined;
  const mqtt = needsConfig ? readConfig(o.config).mqtt : undefined;
  const topic = o.topic ?? (mqtt?.events_topic as string);
  if ((o.routing ?? mqtt?.routing) !== "on") return topic;
  const routed = new RoutedTopics(topic);
  return event.uid
    ? routed.of({ kind: "publish", uid: event.uid })
    : routed.of({ kind: "broadcast", rid: event.rid ?? "" });
}

export async function sendThroughBroker(command: string, o: MqttOptions, event: OutgoingEvent): Promise<void> {
  if (!["0", "1", "2"].includes(o.qos)) throw usageError(`${command}: --qos: expected 0, 1 or 2, got "${o.qos}"`);
  const topic = brokerTopic(command, o, event);
  try {
    await sendEvent(o.mqtt as string, topic, event, { qos: Number(o.qos) as 0 | 1 | 2, timeoutMs: 10_000 });
  } catch (err) {
    if (err instanceof SendError) throw new CliError(`${command}: ${err.message}`);
    throw err;
  }
}
