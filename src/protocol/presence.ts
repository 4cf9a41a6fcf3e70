/**
 * The Presence method's request and answer, read by the same rules over HTTP and gRPC:
 * `{"uids": [...]}` (at most 1,000) or `{"rid": "..."}`, answered `{"online": [{uid, rid, server,
 * since}]}` sorted by uid. An empty list and an empty rid are absent (proto3 cannot tell them apart).
 */
import { type CommandRead, refuse } from "./commands.ts";
import { isObject, kindOf } from "./json.ts";

export const MAX_PRESENCE_UIDS = 1000;

export type PresenceQuery =
  | { readonly kind: "presence"; readonly uids: readonly string[]; readonly rid?: undefined }
  | { readonly kind: "presence"; readonly rid: string; readonly uids?: undefined };

/** One user online in the answer: where its newest session is, and since when the user is online (ns). */
export interface PresenceEntry {
  uid: string;
  rid: string;
  server: string;
  since: string;
}

export interface PresenceAnswer {
  online: PresenceEntry[];
}

export function readPresence(request: unknown): CommandRead<PresenceQuery> {
  if (!isObject(request)) return refuse("bad_request", `request must be an object, got ${kindOf(request)}`);
  const { uids, rid } = request;
  let list: string[] = [];
  if (uids !== undefined && uids !== null) {
    if (!Array.isArray(uids)) return refuse("bad_request", `uids must be an array of strings, got ${kindOf(uids)}`);
    if (uids.length > MAX_PRESENCE_UIDS) {
      return refuse("bad_request", `uids: at most ${MAX_PRESENCE_UIDS}, got ${uids.length}`);
    }
    for (let i = 0; i < uids.length; i++) {
      const u = uids[i];
      if (typeof u !== "string" || u === "") {
        return refuse("bad_request", `uids[${i}] must be a non-empty string, got ${u === "" ? '""' : kindOf(u)}`);
      }
    }
    list = uids as string[];
  }
  let room = "";
  if (rid !== undefined && rid !== null) {
    if (typeof rid !== "string") return refuse("bad_request", `rid must be a string, got ${kindOf(rid)}`);
    room = rid;
  }
  if (list.length > 0 && room !== "") return refuse("bad_request", "give uids or rid, not both");
  if (list.length > 0) return { ok: true, command: { kind: "presence", uids: list } };
  if (room !== "") return { ok: true, command: { kind: "presence", rid: room } };
  return refuse("bad_request", "uids or rid is required");
}
