/**
 * A connection's heartbeat, as the gateway's sweep reads it: when its last uplink came, when it
 * was last probed, and for a downlink-only stream how many frames it had sent at the last sweep.
 */
import type { PushSocket } from "../runtime/types.ts";

export class Heartbeat {
  /** When the last uplink of any kind came, ms since the epoch. */
  lastUplink: number;
  private lastProbe: number;
  /** A oneWay socket's frame count at the last sweep that saw it move. */
  private sentSeen = 0;

  constructor(now: number) {
    this.lastUplink = now;
    this.lastProbe = now;
  }

  /**
   * One sweep of a live session: "timeout" after 3 intervals without an uplink; else `probe` is
   * called after an interval of silence (then again each interval).
   */
  check(now: number, interval: number, socket: Pick<PushSocket, "oneWay" | "sent">, probe: () => void): "timeout" | undefined {
    if (socket.oneWay) {
      this.probeDownlinkSilence(now, interval, socket, probe);
      return undefined;
    }
    if (now - this.lastUplink > 3 * interval) return "timeout";
    if (now - Math.max(this.lastUplink, this.lastProbe) >= interval) {
      this.lastProbe = now;
      probe();
    }
    return undefined;
  }

  /**
   * A downlink-only stream cannot answer a probe: it gets one after `interval` of downlink
   * silence, so that proxies keep it open and the client sees the link alive. `lastProbe` holds
   * when the sweep last saw the stream's frame count move: a frame is noticed up to one sweep
   * late, so a probe may come late, never early.
   */
  private probeDownlinkSilence(now: number, interval: number, socket: Pick<PushSocket, "sent">, probe: () => void): void {
    const sent = socket.sent ?? 0;
    if (sent !== this.sentSeen) {
      this.sentSeen = sent;
      this.lastProbe = now;
    } else if (now - this.lastProbe >= interval) {
      probe();
      this.sentSeen = socket.sent ?? 0;
      this.lastProbe = now;
    }
  }
}
