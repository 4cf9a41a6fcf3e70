/** How an admission refusal reads as HTTP: for a WebSocket upgrade and an HTTP stream alike. */
import type { Refusal, RefusalReason } from "../gateway/admission.ts";
import { errorResponse } from "../protocol/errors.ts";

const HTTP_REFUSAL: Record<RefusalReason, { status: number; id: string; headers?: Record<string, string> }> = {
  draining: { status: 503, id: "shutting_down" },
  origin: { status: 403, id: "forbidden_origin" },
  connect_rate: { status: 429, id: "too_many_connects", headers: { "retry-after": "1" } },
};

export function refusalResponse(r: Refusal): Response {
  const h = HTTP_REFUSAL[r.reason];
  return errorResponse(h.status, h.id, r.detail, h.headers);
}
