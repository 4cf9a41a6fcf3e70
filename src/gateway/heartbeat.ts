/**
 * A connection's heartbeat, as the gateway's sweep reads it: when its last uplink came, when it
 * was last probed, and for a downlink-only stream how many frames it had sent at the last sweep.
 * Like the uplink bucket (limits.ts), its state is three numbers on the connection itself: an
 * object of its own would cost every idle connection ~50 bytes, and the sweep no closure.
 */
import { Downlink } from "../protocol/downlink.ts";
import type { PushSocket } from "../runtime/types.ts";

export interface HeartbeatState {
  /** When the last uplink of any kind came, ms since the epoch. */
  lastUplink: number;
  lastProbe: number;
  /** A oneWay socket's frame count at the last sweep that saw it move. */
  sentSeen: number;
}

/**
 * One sweep of a live session: "timeout" after 3 intervals without an uplink; else a probe (an HB
 * through `link`) after an interval of silence, then again each interval.
 */
export function checkHeartbeat(
  b: HeartbeatState,
  now: number,
  interval: number,
  socket: Pick<PushSocket, "oneWay" | "sent">,
  link: { send(frame: Downlink): void },
): "timeout" | undefined {
  if (socket.oneWay) {
    probeDownlinkSilence(b, now, interval, socket, link);
    return undefined;
  }
  if (now - b.lastUplink > 3 * interval) return "timeout";
  if (now - Math.max(b.lastUplink, b.lastProbe) >= interval) {
    b.lastProbe = now;
    link.send(Downlink.HB);
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
  b: HeartbeatState,
  now: number,
  interval: number,
  socket: Pick<PushSocket, "sent">,
  link: { send(frame: Downlink): void },
): void {
  const sent = socket.sent ?? 0;
  if (sent !== b.sentSeen) {
    b.sentSeen = sent;
    b.lastProbe = now;
  } else if (now - b.lastProbe >= interval) {
    link.send(Downlink.HB);
    b.sentSeen = socket.sent ?? 0;
    b.lastProbe = now;
  }
}
