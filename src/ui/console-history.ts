/**
 * A stream's recent history for the console (GET /console/history): what this instance's hub keeps
 * of a user's stream (`?stream=u&uid=U`), a room's (`?stream=r:<rid>`) or the world's
 * (`?stream=w`), read through the hub's History as recovery reads it, never changed.
 */
import type { Hub } from "../hub/hub.ts";
import type { Stream } from "../hub/history.ts";

export interface HistoryAnswer {
  /** As frames name it: "u", "r:<rid>" or "w". */
  stream: string;
  uid?: string;
  /** "" when the stream does not live here (nothing published, or gone after history.ttl). */
  epoch: string;
  seq: number;
  /** Oldest first. `at` is RFC 3339 UTC with milliseconds. */
  messages: Array<{ seq: number; evt: string; at: string }>;
}

export type HistoryRead = { ok: true; answer: HistoryAnswer } | { ok: false; detail: string };

/** The stream the query names, as the hub holds it now. */
function find(hub: Hub, query: URLSearchParams, now: number): { name: string; uid?: string; s?: Stream } | string {
  const name = query.get("stream") ?? "";
  if (name === "w") return { name, s: hub.history.world };
  if (name === "u") {
    const uid = query.get("uid") ?? "";
    if (uid === "") return "uid is required for stream u";
    // A live session holds its stream; after it, the stream lives on for history.ttl.
    const s = hub.sessions.get(uid)?.stream ?? hub.history.user(uid, now);
    return { name, uid, s: s ?? undefined };
  }
  if (name.startsWith("r:") && name.length > 2) {
    const rid = name.slice(2);
    return { name, s: hub.rooms.get(rid)?.stream ?? hub.history.room(rid, now) };
  }
  return 'stream must be "u" (with uid), "r:<rid>" or "w"';
}

export function readHistory(hub: Hub, query: URLSearchParams, now = Date.now()): HistoryRead {
  const found = find(hub, query, now);
  if (typeof found === "string") return { ok: false, detail: found };
  const { name, uid, s } = found;
  const ttl = hub.history.limits.ttl;
  // Kept and younger than ttl: what a recovery could still replay (the sweep drops the rest).
  const messages = (s?.kept ?? [])
    .filter((e) => now - e.at < ttl)
    .map((e) => ({ seq: e.seq, evt: e.evt, at: new Date(e.at).toISOString() }));
  const answer: HistoryAnswer = { stream: name, epoch: s ? s.epoch : "", seq: s?.seq ?? 0, messages };
  if (uid !== undefined) answer.uid = uid;
  return { ok: true, answer };
}
