/**
 * The checks Publish and Broadcast share on every transport (HTTP JSON, gRPC): what makes a
 * request wrong, in what order, and what the answer says. Each transport maps a problem onto its
 * own status (HTTP 400/413, gRPC INVALID_ARGUMENT/RESOURCE_EXHAUSTED). Pure functions.
 */

export interface RequestProblem {
  /** bad_request: a field missing or wrong; evt_too_large: evt over limits.max_evt_bytes. */
  kind: "bad_request" | "evt_too_large";
  detail: string;
}

/** UTF-8 length without encoding when the answer is obvious. */
export function utf8Length(s: string, limit: number): number {
  if (s.length * 3 <= limit) return s.length;
  return Buffer.byteLength(s, "utf8");
}

const evtTooLarge = (max: number): RequestProblem => ({
  kind: "evt_too_large",
  detail: `evt over limits.max_evt_bytes (${max} bytes, counted in UTF-8)`,
});

/** Publish: a uid is required ("" is missing), then evt must fit. */
export function checkPublish(uid: string | undefined, evt: string, maxEvt: number): RequestProblem | undefined {
  if (!uid) return { kind: "bad_request", detail: "uid is required" };
  if (utf8Length(evt, maxEvt) > maxEvt) return evtTooLarge(maxEvt);
  return undefined;
}

/** Broadcast: any rid ("" = the world); evt must fit. */
export function checkBroadcast(evt: string, maxEvt: number): RequestProblem | undefined {
  if (utf8Length(evt, maxEvt) > maxEvt) return evtTooLarge(maxEvt);
  return undefined;
}
