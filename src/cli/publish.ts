/** `comet publish`: one event to one user. */
import type { Command } from "commander";
import { type ApiOptions, addApiOptions, callApi, serverUrl } from "./client.ts";
import { addMqttOptions, type MqttOptions, sendThroughBroker } from "./mqtt.ts";
import { addEvtOptions, checkEvtOptions, type EvtOptions, resolveEvt } from "./evt.ts";

export interface PublishOptions extends ApiOptions, EvtOptions, MqttOptions {
  uid: string;
}

export async function publish(o: PublishOptions): Promise<void> {
  checkEvtOptions("publish", o);
  if (!o.mqtt) serverUrl("publish", o.server);
  const evt = await resolveEvt("publish", o);
  if (o.mqtt) await sendThroughBroker("publish", o, { uid: o.uid, evt });
  else await callApi("publish", o, "Publish", JSON.stringify({ uid: o.uid, evt }));
}

export function registerPublish(program: Command): Command {
  const cmd = program
    .command("publish")
    .description("push an event to one user, if this instance holds its session")
    .requiredOption("-u, --uid <uid>", "the user to push to");
  addEvtOptions(cmd);
  addApiOptions(cmd);
  addMqttOptions(cmd);
  return cmd
    .addHelpText(
      "after",
      `
The evt is sent byte for byte; without --evt or --event it is read from stdin (a trailing newline
is kept: use printf or echo -n when it must not be there).

Examples:
  comet publish --uid alice --evt 'hello alice'
  jq -c . order.json | comet publish --uid alice
  comet publish --uid alice --event order.shipped --data '{"order":42}'
  comet publish --uid alice --evt hi --mqtt mqtt://127.0.0.1:1883   # every instance on the broker`,
    )
    .action((opts: PublishOptions) => publish(opts));
}
