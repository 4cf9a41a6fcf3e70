/**
 * The one place a decoded command meets its broker, for the request/answer ways in (HTTP, gRPC):
 * deliveries go through Broker.publish (this instance's, or with mqtt.forward_api the cluster's);
 * a dump answers the session lists; a Disconnect revokes (when asked) then closes the sessions.
 */
import type { Broker } from "./broker.ts";
import type { Batch } from "../protocol/batch.ts";
import { type Delivery, STATUS_OF_ERROR } from "../protocol/commands.ts";
import type { Command } from "../protocol/request.ts";
import type { PresenceAnswer, PresenceEntry } from "../protocol/presence.ts";
import type { Dump } from "../hub/session.ts";
import type { Revocation, RevocationStore } from "../auth/revocations.ts";
import type { DisconnectAnswer, RevocationsAnswer, RevocationView } from "../protocol/operator.ts";

/**
 * One command's answer in a batch: `{}`, or why it was refused (its HTTP status and the words; 503
 * when the shared log could not take it while it took others).
 */
export type BatchReply = Record<string, never> | { error: { code: 400 | 413 | 503; detail: string } };

/** The answer of a command: `{}` for a delivery, the sessions for a dump, a reply per command of a batch. */
export type Reply =
  | Record<string, never>
  | Dump
  | { replies: BatchReply[] }
  | PresenceAnswer
  | DisconnectAnswer
  | RevocationsAnswer;

/** Who is online, as the presence view answers it (presence/view.ts). */
export interface PresenceSource {
  query(uids: readonly string[]): PresenceEntry[];
  room(rid: string): PresenceEntry[];
}

/** What answers besides the broker: who is online, and the revocations. */
export interface Sources {
  presence?: PresenceSource;
  revocations?: RevocationStore;
}

/** The answer of every delivered command (a batch's each): one empty object, which HTTP writes as `{}` without JSON.stringify. */
export const DELIVERED: Record<string, never> = Object.freeze({});

/**
 * presence: answers Presence from the presence view, which is cluster-wide whenever the bridge is on
 * (with or without mqtt.forward_api), so it is not the target's to answer; without it, no one is online.
 * revocations: where a Disconnect's revoke is kept (cluster-wide with the bridge, whatever
 * mqtt.forward_api says), and what Revocations lists.
 */
export function execute(broker: Broker, cmd: Command, sources: Sources = {}): Reply | Promise<Reply> {
  const { presence, revocations } = sources;
  switch (cmd.kind) {
    case "presence": {
      if (!presence) return { online: [] };
      return { online: cmd.uids ? presence.query(cmd.uids) : presence.room(cmd.rid) };
    }
    case "disconnect": {
      // Revoked first: the client of a session closed below cannot come back with its old token.
      const revoked = cmd.revoke ? revocations?.revoke(cmd.uid) : undefined;
      // Kept in Redis first (history.store: redis): one it could not keep closes nothing (503).
      if (revoked instanceof Promise) return revoked.then((r) => broker.disconnect(cmd.uid, cmd.reason, r));
      return broker.disconnect(cmd.uid, cmd.reason, revoked);
    }
    case "revocations":
      return { revocations: (revocations?.list() ?? []).map(revocationView) };
    case "dump":
      return broker.dump(cmd.transport);
    case "batch":
      if (broker.publishMany) return executeBatchMany(broker.publishMany.bind(broker), cmd);
      return { replies: executeBatch(broker, cmd) };
    default: {
      const here = broker.publish(cmd);
      return typeof here === "number" ? DELIVERED : here.then(() => DELIVERED);
    }
  }
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function revocationView(r: Revocation): RevocationView {
  return { uid: r.uid, at: iso(r.at), expires: iso(r.expires) };
}

/** What a Batch command answers when the shared log took its neighbours but not it. */
const NOT_LANDED: BatchReply = Object.freeze({ error: { code: 503 as const, detail: "history store unavailable" } });

/** The shared log's way: every delivery appended at once, then delivered in order. */
async function executeBatchMany(
  publishMany: NonNullable<Broker["publishMany"]>,
  batch: Batch,
): Promise<{ replies: BatchReply[] }> {
  const replies = new Array<BatchReply>(batch.commands.length);
  const deliveries: Delivery[] = [];
  const at: number[] = [];
  batch.commands.forEach((read, i) => {
    if (read.ok) {
      deliveries.push(read.command);
      at.push(i);
    } else replies[i] = { error: { code: STATUS_OF_ERROR[read.error.code], detail: read.error.detail } };
  });
  const landed = deliveries.length > 0 ? await publishMany(deliveries) : [];
  at.forEach((i, k) => {
    replies[i] = landed[k] ? DELIVERED : NOT_LANDED;
  });
  return { replies };
}

/** In order; a refused command answers its error and the next one goes on. */
function executeBatch(broker: Broker, batch: Batch): BatchReply[] {
  const replies = new Array<BatchReply>(batch.commands.length);
  for (let i = 0; i < batch.commands.length; i++) {
    const read = batch.commands[i] as Batch["commands"][number];
    if (read.ok) {
      broker.publish(read.command);
      replies[i] = DELIVERED;
    } else replies[i] = { error: { code: STATUS_OF_ERROR[read.error.code], detail: read.error.detail } };
  }
  return replies;
}
