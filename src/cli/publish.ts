/** `comet publish`: one event to one user. */
import type { Command } from "commander";
import { type ApiOptions, addApiOptions, callApi, serverUrl } from "./client.ts";
import { addMqttOptions, type MqttOptions, sendThroughBroker } from "./mqtt.ts";
import { addEvtOptions, checkEvtOptions, type EvtOptions, resolveEvt } from "./evt.ts";
import { publishBatch } from "./batch.ts";
import { usageError } from "./output.ts";

export interface PublishOptions extends ApiOptions, EvtOptions, MqttOptions {
  uid?: string;
  batch?: string;
  batchSize?: string;
  json?: boolean;
}

export async function publish(o: PublishOptions): Promise<void> {
  if (o.batch !== undefined) {
    const other = (["uid", "evt", "event", "data", "mqtt"] as const).find((k) => o[k] !== undefined);
    if (other) throw usageError(`publish: --batch takes its uids and evts from the lines; drop --${other}`);
    serverUrl("publish", o.server);
    return publishBatch({ ...o, batch: o.batch });
  }
  if (o.batchSize !== undefined || o.json) throw usageError("publish: --batch-size and --json go with --batch");
  // Required unless --batch: commander cannot say "one of", so the check and its words are here.
  if (o.uid === undefined)
    throw usageError("publish: required option '-u, --uid <uid>' not specified (see comet publish --help)");
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
    .option("-u, --uid <uid>", "the user to push to (required without --batch)")
    .option("--batch <file>", "send the NDJSON lines of FILE (- for stdin), {uid,evt} or {rid,evt}, through Batch")
    .option("--batch-size <n>", "with --batch: commands per request (default 500)")
    .option("--json", "with --batch: print the summary as one JSON line on stdout");
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
  comet publish --uid alice --evt hi --mqtt mqtt://127.0.0.1:1883   # every instance on the broker
  comet publish --batch events.ndjson         # {"uid":"alice","evt":"hi"} or {"rid":"lobby","evt":"hi"} per line

With --batch, every line is answered: a refused line is named on stderr (line 7: 400 uid is
required), the others are delivered in order; a summary follows (sent, refused, time). Exit 0 when
every line was delivered, 1 when any was refused.`,
    )
    .action((opts: PublishOptions) => publish(opts));
}
