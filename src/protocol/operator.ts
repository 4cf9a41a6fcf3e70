/**
 * The operators' controls (docs/protocol.md, "Disconnect and revocations"): Disconnect
 * `{"uid", "reason"?, "revoke"?}` answered `{"disconnected": n}`, and Revocations `{}` answered
 * `{"revocations": [{uid, at, expires}]}`. Read by the same rules over HTTP and gRPC: an absent
 * field and `null` are its default, a field of another type is refused.
 */
import { type CommandRead, refuse } from "./commands.ts";
import { isObject, kindOf } from "./json.ts";
import { utf8Length } from "./utf8.ts";

/** A close frame's reason holds at most 123 bytes: a longer one would be cut on the wire. */
export const MAX_REASON_BYTES = 123;

/** The reason of a Disconnect that gives none. */
export const DEFAULT_DISCONNECT_REASON = "disconnected by an operator";

export type DisconnectCommand = {
  readonly kind: "disconnect";
  readonly uid: string;
  readonly reason: string;
  /** Also refuse every token of uid issued until now. */
  readonly revoke: boolean;
};

export type RevocationsQuery = { readonly kind: "revocations" };

export interface DisconnectAnswer {
  /** Sessions closed, summed over the instances that answered. */
  disconnected: number;
  /**
   * With mqtt.forward_api, the live instances that did not answer in time (their sessions of uid,
   * if any, may still be open). Absent when every instance answered, as for DumpSession.
   */
  unanswered?: string[];
}

/** A revocation as the API lists it: RFC 3339 UTC with milliseconds, as a Session's birth. */
export interface RevocationView {
  uid: string;
  /** Tokens of uid issued at or before this instant are refused. */
  at: string;
  /** When the revocation lapses (auth.revocation_ttl after `at`). */
  expires: string;
}

export interface RevocationsAnswer {
  revocations: RevocationView[];
}

/** Why a field is refused (present, not null, of another type), or undefined. */
function wrongType(o: Record<string, unknown>, name: string, type: "string" | "boolean"): string | undefined {
  const v = o[name];
  if (v === undefined || v === null || typeof v === type) return undefined;
  return `${name} must be a ${type}, got ${kindOf(v)}`;
}

/** A field of the wrong type first, then a missing uid, then a reason over its limit. */
export function readDisconnect(request: unknown): CommandRead<DisconnectCommand> {
  if (!isObject(request)) return refuse("bad_request", `request must be an object, got ${kindOf(request)}`);
  const wrong =
    wrongType(request, "uid", "string") ??
    wrongType(request, "reason", "string") ??
    wrongType(request, "revoke", "boolean");
  if (wrong) return refuse("bad_request", wrong);
  const uid = (request.uid as string | null | undefined) ?? "";
  const reason = (request.reason as string | null | undefined) ?? "";
  if (uid === "") return refuse("bad_request", "uid is required");
  if (utf8Length(reason, MAX_REASON_BYTES) > MAX_REASON_BYTES) {
    return refuse("bad_request", `reason over ${MAX_REASON_BYTES} bytes (UTF-8): a close frame holds no more`);
  }
  const revoke = request.revoke === true;
  return { ok: true, command: { kind: "disconnect", uid, reason: reason || DEFAULT_DISCONNECT_REASON, revoke } };
}

/** Revocations takes no field: any object (an empty body is `{}`). */
export function readRevocations(request: unknown): CommandRead<RevocationsQuery> {
  if (!isObject(request)) return refuse("bad_request", `request must be an object, got ${kindOf(request)}`);
  return { ok: true, command: { kind: "revocations" } };
}
