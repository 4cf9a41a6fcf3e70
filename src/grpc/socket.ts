/**
 * A gRPC Subscribe stream as the core's PushSocket: the connection state machine and the hub
 * serve it exactly as they serve a WebSocket.
 */
import { constants as h2 } from "node:http2";
import type { ServerDuplexStream, status } from "@grpc/grpc-js";
import type { LoopFanout } from "../runtime/loop-fanout.ts";
import { LoopSocket } from "../runtime/loop-socket.ts";
import type { UplinkRead } from "./codec.ts";
import { PROTOBUF } from "./codec.ts";
import { streamEnd } from "./status.ts";

export type SubscribeCall = ServerDuplexStream<UplinkRead, Buffer>;

/** The HTTP/2 stream under a grpc-js call; not public API, so every use has a fallback. */
type WithHttp2 = { call?: { stream?: { close?(code: number): void; destroyed?: boolean } } };

export class GrpcSocket extends LoopSocket {
  readonly transport = "grpc";
  readonly format = PROTOBUF;
  readonly positions = true;
  /** Downlink bytes handed to the call and not yet flushed to the network. */
  private queued = 0;

  constructor(
    private readonly call: SubscribeCall,
    fanout: LoopFanout,
    maxSendBuffer: number,
    private readonly onRelease: () => void,
  ) {
    super(fanout, maxSendBuffer);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  send(bytes: Buffer): number {
    if (this.ended) return 0;
    // The backlog already written and not flushed decides, as Bun's backpressure limit does for
    // a WebSocket: one message larger than the limit still goes to a client that keeps up.
    if (this.queued > this.maxSendBuffer) {
      this.dropSlowConsumer();
      return -1;
    }
    const n = bytes.length;
    this.queued += n;
    this.call.write(bytes, () => {
      this.queued -= n;
    });
    return n;
  }

  /** Ends the stream with the status of a close code; trailers follow what is already queued. */
  close(code?: number, reason?: string): void {
    if (this.ended) return;
    this.release();
    const end = streamEnd(code ?? 1000, reason ?? "");
    if (this.call.cancelled) return;
    this.call.emit("error", end);
  }

  /** Refused before any connection existed, for a reason that has no close code. */
  refuse(code: status, details: string): void {
    if (this.ended) return;
    this.release();
    if (!this.call.cancelled) this.call.emit("error", { code, details });
  }

  /** Resets the HTTP/2 stream at once: nothing queued behind it is kept or sent. */
  terminate(): void {
    if (this.ended) return;
    this.release();
    const stream = (this.call as unknown as WithHttp2).call?.stream;
    if (stream?.close && !stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    else if (!this.call.cancelled) this.call.emit("error", streamEnd(1006, "terminated"));
  }

  /** The peer went (cancelled, connection lost, or it ended its side): stop all writes. */
  gone(): void {
    if (!this.ended) this.release();
  }

  protected override released(): void {
    this.onRelease();
  }
}
