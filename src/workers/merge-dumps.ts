/**
 * The host's DumpSession: every worker's Dump made one, in the order Hub.dump gives (newest
 * session first, then uid; rooms by rid), as if one hub held them all.
 */
import { compareUtf8 } from "../hub/order.ts";
import type { Dump, SessionView } from "../hub/session.ts";

// ISO-8601 times of one format compare as strings; the newest first.
const byBirth = (a: SessionView, b: SessionView): number =>
  a.birth < b.birth ? 1 : a.birth > b.birth ? -1 : compareUtf8(a.uid, b.uid);

export function mergeDumps(dumps: readonly Dump[]): Dump {
  const world = dumps.flatMap((d) => d.world).sort(byBirth);
  const rooms = new Map<string, SessionView[]>();
  for (const d of dumps) {
    for (const { rid, room } of d.rooms) {
      const list = rooms.get(rid);
      if (list) list.push(...room);
      else rooms.set(rid, [...room]);
    }
  }
  return {
    world,
    rooms: [...rooms.entries()]
      .sort(([a], [b]) => compareUtf8(a, b))
      .map(([rid, room]) => ({ rid, room: room.sort(byBirth) })),
  };
}
