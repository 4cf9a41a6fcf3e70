/** `comet broadcast`: one event to a room, or to the whole world. */
import type { Command } from "commander";
import { type ApiOptions, addApiOptions, callApi, serverUrl } from "./client.ts";
import { addMqttOptions, type MqttOptions, sendThroughBroker } from "./mqtt.ts";
import { addEvtOptions, checkEvtOptions, type EvtOptions, resolveEvt } from "./evt.ts";

export interface BroadcastOptions extends ApiOptions, EvtOptions, MqttOptions {
  rid?: string;
}

export async function broadcast(o: BroadcastOptions): Promise<void> {
  checkEvtOptions("broadcast", o);
  if (!o.mqtt) serverUrl("broadcast", o.server);
  const evt = await resolveEvt("broadcast", o);
  if (o.mqtt) await sendThroughBroker("broadcast", o, { rid: o.rid ?? "", evt });
  else await callApi("broadcast", o, "Broadcast", JSON.stringify({ rid: o.rid ?? "", evt }));
}

export function registerBroadcast(program: Command): Command {
  const cmd = program
    .command("broadcast")
    .description("push an event to everyone in a room, or to every session of this instance")
    .option("-r, --rid <rid>", "the room (default: the whole world)");
  addEvtOptions(cmd);
  addApiOptions(cmd);
  addMqttOptions(cmd);
  return cmd
    .addHelpText(
      "after",
      `
The evt is sent byte for byte; without --evt or --event it is read from stdin (a trailing newline
is kept).

Examples:
  comet broadcast --rid lobby --evt 'hello lobby'
  comet broadcast --evt 'maintenance at 22:00'          # the whole world
  jq -c . notice.json | comet broadcast --rid lobby
  comet broadcast --rid lobby --event chat --data 'hi all' --from backend-1`,
    )
    .action((opts: BroadcastOptions) => broadcast(opts));
}
