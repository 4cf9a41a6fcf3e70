/**
 * Every command an API method takes (HTTP, gRPC unary), and the one reader that dispatches a
 * request to its kind's rules: the single commands (commands.ts), Batch (batch.ts), Presence
 * (presence.ts) and the operators' controls (operator.ts) each read their own, and none of them
 * needs this union.
 */
import { type Batch, readBatch } from "./batch.ts";
import { type CommandLimits, type CommandRead, readCommand, type SingleCommand } from "./commands.ts";
import { type DisconnectCommand, readDisconnect, readRevocations, type RevocationsQuery } from "./operator.ts";
import { type PresenceQuery, readPresence } from "./presence.ts";

export type Command = SingleCommand | Batch | PresenceQuery | DisconnectCommand | RevocationsQuery;
export type CommandKind = Command["kind"];

/** The request of an API method (HTTP, gRPC unary), read by its kind. */
export function readRequest(kind: CommandKind, request: unknown, limits: CommandLimits): CommandRead<Command> {
  switch (kind) {
    case "batch":
      return readBatch(request, limits);
    case "presence":
      return readPresence(request);
    case "disconnect":
      return readDisconnect(request);
    case "revocations":
      return readRevocations(request);
    default:
      return readCommand(kind, request, limits);
  }
}
