/** `--mqtt URL` for publish and broadcast: the Event goes through the broker to every instance. */
import type { Command } from "commander";
import { type OutgoingEvent, SendError, sendEvent } from "../bridge/send.ts";
import { CliError, usageError } from "./output.ts";

export interface MqttOptions {
  mqtt?: string;
  topic: string;
  qos: string;
}

export function addMqttOptions(cmd: Command): Command {
  return cmd
    .option(
      "--mqtt <url>",
      "send the Event through this MQTT broker instead of the HTTP API (mqtt://user:pass@host:1883)",
    )
    .option("--topic <topic>", "with --mqtt: the events topic (mqtt.events_topic)", "comet/events")
    .option("--qos <n>", "with --mqtt: 0, 1 or 2", "0");
}

export async function sendThroughBroker(command: string, o: MqttOptions, event: OutgoingEvent): Promise<void> {
  if (!["0", "1", "2"].includes(o.qos)) throw usageError(`${command}: --qos: expected 0, 1 or 2, got "${o.qos}"`);
  try {
    await sendEvent(o.mqtt as string, o.topic, event, { qos: Number(o.qos) as 0 | 1 | 2, timeoutMs: 10_000 });
  } catch (err) {
    if (err instanceof SendError) throw new CliError(`${command}: ${err.message}`);
    throw err;
  }
}
