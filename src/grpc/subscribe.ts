/**
 * The Subscribe method: one bidirectional stream becomes one more PushSocket behind the same
 * gateway as a WebSocket (admission, AUTH first, JOIN, re-AUTH, heartbeat, limits).
 */
import { status } from "@grpc/grpc-js";
import type { ConnectInfo, RefusalReason } from "../gateway/admission.ts";
import type { Gateway } from "../gateway/gateway.ts";
import { Close } from "../protocol/codes.ts";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import type { TcpGuard } from "./listener.ts";
import { GrpcSocket, type SubscribeCall } from "./socket.ts";

/** A refused stream ends with a close code where one says it, else with a plain status. */
const GRPC_REFUSAL: Record<RefusalReason, { close: number; reason: string } | { status: status }> = {
  draining: { close: Close.GoingAway, reason: "server shutting down" },
  origin: { close: Close.Forbidden, reason: "origin not allowed" },
  connect_rate: { status: status.RESOURCE_EXHAUSTED },
};

/** "127.0.0.1:5000", "::1:5000" (grpc-js writes IPv6 without brackets) → the address. */
function peerAddress(peer: string): string {
  const i = peer.lastIndexOf(":");
  const host = i > 0 ? peer.slice(0, i) : peer;
  return host.replace(/^\[|\]$/g, "");
}

/** The connect info a WebSocket upgrade reads from its headers, read from the call's metadata. */
export function connectInfo(call: Pick<SubscribeCall, "getPeer" | "metadata">): ConnectInfo {
  const text = (name: string): string | null => {
    const v = call.metadata.get(name)[0];
    return typeof v === "string" ? v : null;
  };
  return { peer: peerAddress(call.getPeer()), origin: text("origin"), forwardedFor: text("x-forwarded-for") };
}

export interface SubscribeDeps {
  gateway: Pick<Gateway, "connect">;
  fanout: LoopFanout;
  tcp: TcpGuard;
  maxSendBuffer: number;
}

export function subscribeMethod(deps: SubscribeDeps): (call: SubscribeCall) => void {
  const { gateway, fanout, tcp } = deps;
  return (call) => {
    const peer = call.getPeer();
    tcp.streamOpened(peer);
    const socket = new GrpcSocket(call, fanout, deps.maxSendBuffer, () => tcp.streamClosed(peer));
    const connected = gateway.connect(socket, connectInfo(call));
    if (!connected.ok) {
      // Without a refusal, limits.max_connections: the stream is closed 4503 already.
      if (!connected.refusal) return;
      const how = GRPC_REFUSAL[connected.refusal.reason];
      if ("close" in how) socket.close(how.close, how.reason);
      else socket.refuse(how.status, connected.refusal.detail);
      return;
    }
    const conn = connected.events;
    call.on("data", (m) => {
      if ("tooBig" in m) {
        conn.close(Close.TooBig, `uplink message of ${m.tooBig} bytes over limits.max_uplink_bytes`);
      } else conn.onUplink(m);
    });
    // The client closed its side: the session ends as a WebSocket's does when the client closes.
    call.on("end", () => {
      // A stream the server reset (slow consumer) also ends; that end is not the client's.
      if (!socket.isEnded) conn.close(1000, "client ended the stream");
    });
    // Also how a stream ends that the library itself ended (a message past
    // grpc.max_receive_message_length): it tells the handler no more than "cancelled".
    call.on("cancelled", () => {
      socket.gone();
      conn.onClosed(1006, "stream cancelled or connection lost");
    });
  };
}
