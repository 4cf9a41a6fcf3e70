/**
 * Reading a downlink frame (a WebSocket's, or an SSE event's data): what it asks of the client;
 * and an SSE stream's close. Pure but for the handlers it calls.
 */
import type { PushPosition } from "./positions.ts";

export interface DownlinkHandlers {
  /** An HB probe: to be answered. */
  probe(): void;
  /** The server's report of a `recover`: for each stream it named, whether what was missed was replayed. */
  recovered(report: Record<string, boolean>): void;
  /** A PUSH: its evt, and its position when the frame carries one in full. */
  push(evt: string, position?: PushPosition): void;
}

/** An SSE stream's `event: close` data, `{"code": 4410, "reason": "…"}`: undefined when it is not one. */
export function readClose(text: string): { code: number; reason: string } | undefined {
  let close: { code?: unknown; reason?: unknown };
  try {
    close = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof close !== "object" || close === null || !Number.isInteger(close.code)) return undefined;
  return { code: close.code as number, reason: typeof close.reason === "string" ? close.reason : "" };
}

/** Hands the frame to its handler; a frame that is not JSON, not an object, or of no type the client knows, is ignored. */
export function readDownlink(text: string, h: DownlinkHandlers): void {
  let frame: { t?: unknown; hb?: { recovered?: unknown }; push?: Partial<PushPosition> & { evt?: unknown } };
  try {
    frame = JSON.parse(text);
  } catch {
    return;
  }
  if (typeof frame !== "object" || frame === null) return;
  // Downlink writes names; numbers are read too, as the uplink does.
  if (frame.t === "HB" || frame.t === 0) {
    const recovered = frame.hb?.recovered;
    // The report of a recover is not a probe: nothing to answer.
    if (typeof recovered === "object" && recovered !== null) h.recovered(recovered as Record<string, boolean>);
    else h.probe();
  } else if ((frame.t === "PUSH" || frame.t === 3) && typeof frame.push?.evt === "string") {
    const { evt, stream, seq, epoch } = frame.push;
    if (typeof stream !== "string" || typeof seq !== "number" || typeof epoch !== "string") h.push(evt);
    else h.push(evt, { stream, seq, epoch });
  }
}
