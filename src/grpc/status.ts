/**
 * WebSocket close codes (docs/protocol.md, "Close codes") as gRPC statuses. The numeric close code also travels in
 * the trailing metadata `comet-code`, so one client library can handle both transports alike.
 */
import { Metadata, status } from "@grpc/grpc-js";
import { Close } from "../protocol/codes.ts";

export const COMET_CODE = "comet-code";

const BY_CLOSE: Record<number, status> = {
  // The client ended its side of the stream: a normal end.
  1000: status.OK,
  [Close.GoingAway]: status.UNAVAILABLE,
  [Close.TooBig]: status.RESOURCE_EXHAUSTED,
  [Close.BadFrame]: status.INVALID_ARGUMENT,
  [Close.Unauthorized]: status.UNAUTHENTICATED,
  [Close.Forbidden]: status.PERMISSION_DENIED,
  [Close.Timeout]: status.DEADLINE_EXCEEDED,
  // ABORTED rather than ALREADY_EXISTS: the stream that ends is the older one, cut short by a
  // concurrent login; nothing this client tried to create was refused.
  [Close.Replaced]: status.ABORTED,
  // An operator ended the session (and may have revoked its tokens): not a failure to retry.
  [Close.Disconnected]: status.PERMISSION_DENIED,
  [Close.RateLimited]: status.RESOURCE_EXHAUSTED,
  [Close.Overloaded]: status.RESOURCE_EXHAUSTED,
};

export function statusOfClose(code: number): status {
  return BY_CLOSE[code] ?? status.UNKNOWN;
}

export interface StreamEnd {
  code: status;
  details: string;
  metadata: Metadata;
}

export function streamEnd(closeCode: number, reason: string): StreamEnd {
  const metadata = new Metadata();
  metadata.set(COMET_CODE, String(closeCode));
  return { code: statusOfClose(closeCode), details: reason, metadata };
}
