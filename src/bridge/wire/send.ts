/**
 * One Event through the broker, for `comet publish|broadcast --mqtt URL`: every instance on that
 * broker receives it, so one shell command reaches the whole cluster. Connects, publishes, says
 * goodbye; every failure becomes one SendError whose message names the broker (password hidden).
 * Resolves once the PUBLISH is written (QoS 0, at most once, like the bridge) or acknowledged
 * (QoS 1/2).
 */
import type { Qos } from "./qos.ts";
import { randomBytes } from "node:crypto";
import type { IClientOptions } from "mqtt";
import { BROKER_SCHEMES, brokerAddress, brokerScheme, showUrl } from "../settings.ts";

export interface OutgoingEvent {
  uid?: string;
  rid?: string;
  evt: string;
}

export interface SendOptions {
  qos?: Qos;
  /** For the whole exchange: connect, publish (and its acknowledgement at QoS 1/2), disconnect. */
  timeoutMs?: number;
  username?: string;
  password?: string;
  /** PEM, for mqtts:// and wss:// brokers that a system CA does not vouch for. */
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
}

export class SendError extends Error {
  override name = "SendError";
}

/** The Event JSON (docs/protocol.md, "Events in"); uid and rid only when given (JSON.stringify leaves out undefined). */
export function encodeEvent(e: OutgoingEvent): string {
  return JSON.stringify({ uid: e.uid, rid: e.rid, evt: e.evt });
}

export async function sendEvent(
  url: string,
  topic: string,
  event: OutgoingEvent,
  opts: SendOptions = {},
): Promise<void> {
  const shown = showUrl(url);
  if (!brokerScheme(url)) {
    throw new SendError(
      `mqtt: expected a broker URL like mqtt://127.0.0.1:1883 (${BROKER_SCHEMES.join(", ")}), got ${JSON.stringify(shown)}`,
    );
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const options: IClientOptions = {
    clientId: `comet-cli-${randomBytes(6).toString("hex")}`,
    protocolVersion: 4,
    clean: true,
    reconnectPeriod: 0,
    // Our own deadline covers the whole exchange; mqtt.js's must not fire first with a vaguer message.
    connectTimeout: timeoutMs + 1000,
    ...brokerAddress(url),
    ca: opts.ca,
    cert: opts.cert,
    key: opts.key,
  };
  if (opts.username !== undefined) options.username = opts.username;
  if (opts.password !== undefined) options.password = opts.password;
  const payload = encodeEvent(event);
  // Loaded only by the commands that send (publish|broadcast --mqtt): mqtt.js is not in memory otherwise.
  const { connect } = await import("mqtt");
  return new Promise<void>((resolve, reject) => {
    const client = connect(options);
    let settled = false;
    let sent = false;
    let lastError: Error | undefined;
    const finish = (err?: SendError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        client.end(true);
        reject(err);
      } else resolve();
    };
    const timer = setTimeout(
      () => finish(new SendError(`mqtt: no answer from broker ${shown} within ${timeoutMs} ms`)),
      timeoutMs,
    );
    client.on("error", (err: Error & { code?: unknown }) => {
      lastError = err;
      // The event is out (at QoS 1/2 acknowledged): a reset while saying goodbye changes nothing.
      if (sent) finish();
      // A system error before CONNACK (ECONNREFUSED, ENOTFOUND, a TLS failure): never reached.
      else if (!client.connected && typeof err.code === "string") {
        finish(new SendError(`mqtt: cannot reach broker ${shown}: ${err.message}`));
      } else finish(new SendError(`mqtt: broker ${shown}: ${err.message}`));
    });
    client.on("close", () => {
      if (!sent) {
        const why = lastError ? `: ${lastError.message}` : "";
        finish(new SendError(`mqtt: broker ${shown} closed the connection before the event was sent${why}`));
      }
    });
    client.once("connect", () => {
      client.publish(topic, payload, { qos: opts.qos ?? 0 }, (err) => {
        if (err) {
          finish(new SendError(`mqtt: publish to ${topic} on ${shown} failed: ${err.message}`));
          return;
        }
        sent = true;
        // A clean DISCONNECT after the PUBLISH: the broker has taken the event once it reads it.
        client.end(false, {}, () => finish());
      });
    });
  });
}
