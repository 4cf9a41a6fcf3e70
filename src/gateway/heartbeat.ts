/**
 * A connection's heartbeat, as the gateway's sweep reads it: when its last uplink came, when it
 * was last probed, and for a downlink-only stream how many frames it had sent at the last sweep.
 * Its state is three numbers that live on the connection itself, like the rate bucket's
 * (limits.ts): an object of its own per connection cost ~40 bytes of every idle connection.
 */
import type { PushSocket } from "../runtime/types.ts";

export interface BeatState {
  /** When the last uplink of any kind came, ms since the epoch. */
  lastUplink: number;
  /** When the sweep last probed (or, for a oneWay socket, last saw its frame count move). */
  lastProbe: number;
  /** A oneWay socket's frame count at the last sweep that saw it move. */
  sentSeen: number;
}

/** What the sweep probes: the connection sends a heartbeat frame. */
export interface Probed {
  probe(): void;
}

/**
 * One sweep of a live session: "timeout" after 3 intervals without an uplink; else it is probed
 * after an interval of silence (then again each interval).
 */
export function checkBeat(
  b: BeatState,
  now: number,
  interval: number,
  socket: Pick<PushSocket, "oneWay" | "sent">,
  to: Probed,
): "timeout" | undefined {
  if (socket.oneWay) {
    probeDownlinkSilence(b, now, interval, socket, to);
    return undefined;
  }
  if (now - b.lastUplink > 3 * interval) return "timeout";
  if (now - Math.max(b.lastUplink, b.lastProbe) >= interval) {
    b.lastProbe = now;
    to.probe();
  }
  return undefined;
}

/**
 * A downlink-only stream cannot answer a probe: it gets one after `interval` of downlink
 * silence, so that proxies keep it open and the client sees the link alive. `lastProbe` holds
 * when the sweep last saw the stream's frame count move: a frame is noticed up to one sweep
 * late, so a probe may come late, never early.
 */
function probeDownlinkSilence(
  b: BeatState,
  now: number,
  interval: number,
  socket: Pick<PushSocket, "sent">,
  to: Probed,
): void {
  const sent = socket.sent ?? 0;
  if (sent !== b.sentSeen) {
    b.sentSeen = sent;
    b.lastProbe = now;
  } else if (now - b.lastProbe >= interval) {
    to.probe();
    b.sentSeen = socket.sent ?? 0;
    b.lastProbe = now;
  }
}
