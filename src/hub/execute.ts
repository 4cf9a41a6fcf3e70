/**
 * The one place a decoded command meets the hub, for the request/answer ways in (HTTP, gRPC):
 * deliveries go through Hub.deliver, as an MQTT Event's do; a dump answers the session lists.
 */
import type { Command } from "../protocol/commands.ts";
import type { Hub } from "./hub.ts";
import type { Dump } from "./session.ts";

/** The answer of a command: `{}` for a delivery, the sessions for a dump. */
export type Reply = Record<string, never> | Dump;

export function execute(hub: Hub, cmd: Command): Reply {
  if (cmd.kind === "dump") return hub.dump(cmd.transport);
  hub.deliver(cmd);
  return {};
}
