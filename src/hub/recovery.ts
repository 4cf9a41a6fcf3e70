/**
 * A session's `recover`: for each stream it names, what followed the client's position is sent,
 * when all of it is still kept, never a part; then one HB reports each stream's outcome.
 * Synchronous from start to end, so no new message can come between the replay and the report.
 */
import { Downlink } from "../protocol/downlink.ts";
import type { Recover } from "../protocol/frames.ts";
import type { History, Position, Stream } from "./history.ts";
import type { Session } from "./session.ts";

/** The session's streams as the hub holds them: its user's (if made yet), its room's, the world's. */
export interface SessionStreams {
  u: Stream | undefined;
  r: Stream | undefined;
  w: Stream;
}

export function recoverStreams(history: History, s: Session, streams: SessionStreams, r: Recover): void {
  const now = Date.now();
  const report: Record<string, boolean> = {};
  if (r.u) report.u = replay(history, s, streams.u, r.u, now);
  if (r.r) report.r = replay(history, s, streams.r, r.r, now);
  if (r.w) report.w = replay(history, s, streams.w, r.w, now);
  s.link.send(Downlink.recoveredReport(report));
}

function replay(history: History, s: Session, stream: Stream | undefined, pos: Position, now: number): boolean {
  const entries = history.recover(stream, pos, now);
  if (!entries || !stream) return false;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as (typeof entries)[number];
    s.link.send(Downlink.pushAt(e.evt, stream.name, e.seq, stream.epoch));
  }
  return true;
}

/**
 * Where s stands now in each of its streams. Its user's stream is made now rather than at the first
 * Publish: a position in it is what lets a reconnect get what was published to the user while away.
 */
export function headsOf(history: History, s: Session, room: Stream | undefined): Recover {
  const at = (stream: Stream) => ({ epoch: stream.epoch, seq: stream.seq });
  s.stream ??= history.holdUser(s.uid, Date.now());
  const p: Recover = { u: at(s.stream), w: at(history.world) };
  if (room) p.r = at(room);
  return p;
}
