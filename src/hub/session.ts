/** A user's session: created on a successful AUTH, destroyed when its connection ends. */
import type { Downlink } from "../protocol/downlink.ts";
import type { Transport } from "../runtime/types.ts";

/** How the hub reaches the connection that owns a session. */
export interface SessionLink {
  send(frame: Downlink): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Which transport carries it (DumpSession with transport: true shows it). */
  readonly transport: Transport;
  /** The hub ended this session (replaced by a newer one): close the connection with this code. */
  kick(code: number, reason: string): void;
}

export class Session {
  rid = "";
  constructor(
    readonly uid: string,
    readonly birth: number,
    readonly link: SessionLink,
  ) {}
}

export interface SessionView {
  uid: string;
  rid: string;
  birth: string;
  /** Only when asked for: an addition to the spec's Session, so off by default. */
  transport?: Transport;
}

export interface RoomView {
  rid: string;
  room: SessionView[];
}

export interface Dump {
  world: SessionView[];
  rooms: RoomView[];
  /**
   * A cluster's DumpSession (mqtt.forward_api): the instances that did not answer in time, whose
   * sessions are missing. Absent when every instance answered, as an instance's own dump has it.
   */
  unanswered?: string[];
}
