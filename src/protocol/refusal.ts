/**
 * Why a subscription is refused before it becomes a connection (admission answers these: each
 * transport maps the reason to its own answer), and how a refusal reads as HTTP: for a WebSocket
 * upgrade and an HTTP stream alike.
 */
import { errorResponse } from "./errors.ts";

/** Past limits.max_connections is decided once the socket exists (Gateway.connect closes it 4503). */
export type RefusalReason = "draining" | "origin" | "connect_rate";

export interface Refusal {
  reason: RefusalReason;
  /** Says why, for people; never a token. */
  detail: string;
}

const HTTP_REFUSAL: Record<RefusalReason, { status: number; id: string; headers?: Record<string, string> }> = {
  draining: { status: 503, id: "shutting_down" },
  origin: { status: 403, id: "forbidden_origin" },
  connect_rate: { status: 429, id: "too_many_connects", headers: { "retry-after": "1" } },
};

export function refusalResponse(r: Refusal): Response {
  const h = HTTP_REFUSAL[r.reason];
  return errorResponse(h.status, h.id, r.detail, h.headers);
}
