/**
 * Every command an API method takes (HTTP, gRPC unary), and the one reader that dispatches a
 * request to its kind's rules: the single commands (commands.ts), Batch (batch.ts) and Presence
 * (presence.ts) each read their own, and none of them needs this union.
 */
import { type Batch, readBatch } from "./batch.ts";
import { type CommandLimits, type CommandRead, readCommand, type SingleCommand } from "./commands.ts";
import { type PresenceQuery, readPresence } from "./presence.ts";

export type Command = SingleCommand | Batch | PresenceQuery;
export type CommandKind = Command["kind"];

/** The request of an API method (HTTP, gRPC unary), read by its kind. */
export function readRequest(kind: CommandKind, request: unknown, limits: CommandLimits): CommandRead<Command> {
  if (kind === "batch") return readBatch(request, limits);
  if (kind === "presence") return readPresence(request);
  return readCommand(kind, request, limits);
}
