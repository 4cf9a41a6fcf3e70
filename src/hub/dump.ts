/**
 * DumpSession's answer from a list of sessions, in docs/protocol.md's order: `world` newest birth
 * first (equal births: by uid), `rooms` by rid, strings in UTF-8 byte order. One instance's hub and
 * the cluster's gather (bridge/routing/gather.ts) both answer through here.
 */
import { compareUtf8 } from "../util/order.ts";
import type { Dump, Session, SessionView } from "./session.ts";

/** RFC 3339 with milliseconds, all UTC and one width: the strings order as the times do. */
const byBirth = (a: SessionView, b: SessionView): number =>
  a.birth < b.birth ? 1 : a.birth > b.birth ? -1 : compareUtf8(a.uid, b.uid);

/** Sorts views in place and groups the members of each room. */
export function assembleDump(views: SessionView[]): Dump {
  views.sort(byBirth);
  const members = new Map<string, SessionView[]>();
  for (const v of views) {
    if (v.rid === "") continue;
    const list = members.get(v.rid);
    if (list) list.push(v);
    else members.set(v.rid, [v]);
  }
  const rooms = [...members.entries()].sort(([a], [b]) => compareUtf8(a, b)).map(([rid, room]) => ({ rid, room }));
  return { world: views, rooms };
}

/** Every session as DumpSession shows it, unsorted; `withTransport` adds each one's transport. */
export function sessionViews(sessions: Iterable<Session>, count: number, withTransport: boolean): SessionView[] {
  const out = new Array<SessionView>(count);
  let i = 0;
  for (const s of sessions) {
    const v: SessionView = { uid: s.uid, rid: s.rid, birth: new Date(s.birth).toISOString() };
    if (withTransport) v.transport = s.link.transport;
    out[i++] = v;
  }
  return out;
}
