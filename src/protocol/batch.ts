/**
 * A Batch: many deliveries in one request, `{"commands":[{"publish":{…}} | {"broadcast":{…}}, …]}`.
 * Each command is read by the same rules as a single Publish or Broadcast and answers on its own:
 * one bad command never fails the others. Only a request that is not a list, or a list longer than
 * limits.max_batch_commands, is refused as a whole.
 */
import {
  type CommandLimits,
  type CommandRead,
  type Delivery,
  readCommand,
  refuse,
} from "./commands.ts";
import { isObject, kindOf } from "./json.ts";

export type Batch = { readonly kind: "batch"; readonly commands: ReadonlyArray<CommandRead<Delivery>> };

const NOT_ONE_KIND = 'a command must be {"publish":{…}} or {"broadcast":{…}}';

const present = (v: unknown): boolean => v !== undefined && v !== null;

/** One entry of the list: exactly one of publish, broadcast (a gRPC oneof reads the same). */
function readEntry(entry: unknown, limits: CommandLimits): CommandRead<Delivery> {
  if (!isObject(entry)) return refuse("bad_request", `${NOT_ONE_KIND}, got ${kindOf(entry)}`);
  const publish = present(entry.publish);
  if (publish === present(entry.broadcast)) return refuse("bad_request", NOT_ONE_KIND);
  return publish
    ? readCommand("publish", entry.publish, limits, "publish")
    : readCommand("broadcast", entry.broadcast, limits, "broadcast");
}

export function readBatch(request: unknown, limits: CommandLimits): CommandRead<Batch> {
  if (!isObject(request)) return refuse("bad_request", `request must be an object, got ${kindOf(request)}`);
  const list = request.commands;
  if (!present(list)) return { ok: true, command: { kind: "batch", commands: [] } };
  if (!Array.isArray(list)) return refuse("bad_request", `commands must be an array, got ${kindOf(list)}`);
  if (list.length > limits.maxBatchCommands) {
    return refuse(
      "batch_too_large",
      `${list.length} commands, over limits.max_batch_commands (${limits.maxBatchCommands})`,
    );
  }
  const commands = new Array<CommandRead<Delivery>>(list.length);
  for (let i = 0; i < list.length; i++) commands[i] = readEntry(list[i], limits);
  return { ok: true, command: { kind: "batch", commands } };
}
