/**
 * What ties the workers of one host together: the broker their bridges share. The configured
 * mqtt.url when there is one; else an embedded broker run by the supervisor, so that it outlives
 * any worker: at mqtt.embedded.listen when the operator set it (backends publish there, with its
 * accounts), else a private one on a loopback port with a generated account and no anonymous
 * client, which only the workers know. Either way the workers get `mqtt.forward_api: true`.
 */
import { randomBytes } from "node:crypto";
import { bridgeSettings } from "../bridge/settings.ts";
import { startEmbeddedBroker } from "../bridge/wire/embedded.ts";
import type { Config } from "../config/schema.ts";
import type { Logger } from "../log.ts";

export interface HostBroker {
  /** The workers' environment: config keys (COMET_*) that point their bridges at the broker. */
  readonly env: Record<string, string>;
  /** Where it is, for the log: the URL without credentials. */
  readonly url: string;
  close(): Promise<void>;
}

export async function startHostBroker(cfg: Config, log: Logger): Promise<HostBroker> {
  const forward = { COMET_MQTT_FORWARD_API: "true" };
  if (cfg.mqtt.url !== "") return { env: forward, url: "mqtt.url", close: async () => {} };
  const settings = bridgeSettings(cfg);
  const embedded = settings?.embedded;
  const instance = {
    username: cfg.mqtt.username || `comet-workers-${randomBytes(6).toString("hex")}`,
    password: cfg.mqtt.password || randomBytes(32).toString("base64url"),
  };
  const broker = await startEmbeddedBroker({
    host: embedded?.host ?? "127.0.0.1",
    port: embedded?.port ?? 0,
    maxPacketBytes:
      embedded?.maxPacketBytes ?? (cfg.mqtt.embedded.max_packet_bytes || cfg.limits.max_body_bytes + 1024),
    access: {
      instance,
      publishers: embedded?.publishers ?? [],
      anonymous: embedded?.anonymous ?? false,
      eventsTopic: cfg.mqtt.events_topic,
      activityTopic: cfg.mqtt.activity_topic,
      presenceTopic: cfg.mqtt.presence_topic,
    },
    log,
  });
  return {
    env: {
      ...forward,
      COMET_MQTT_URL: broker.url,
      COMET_MQTT_USERNAME: instance.username,
      COMET_MQTT_PASSWORD: instance.password,
      // The supervisor runs the broker: a worker only connects to it.
      COMET_MQTT_EMBEDDED_LISTEN: "",
      COMET_MQTT_EMBEDDED_PUBLISHERS: "",
    },
    url: broker.url,
    close: () => broker.close(),
  };
}
