/** A user's session: created on a successful AUTH, destroyed when its connection ends. */
import type { Downlink } from "../protocol/downlink.ts";
import type { Transport } from "../runtime/types.ts";
import type { Stream } from "./history.ts";

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
  /** Every PUSH it gets carries its position (it asked, or its transport always does). */
  positions = false;
  constructor(
    readonly uid: string,
    /** Its ONLINE time, µs (the activity carries it in ns): what cluster rule and presence compare. */
    readonly onlineUs: number,
    readonly link: SessionLink,
    /**
     * Its user's stream, made at the first Publish to it (or taken back from the uid's last
     * session); numbered and kept while the session lives, and for history.ttl after.
     */
    public stream: Stream | null,
  ) {}

  /** When it started, ms since the epoch (DumpSession's birth): derived, so not one more field per session. */
  get birth(): number {
    return Math.floor(this.onlineUs / 1000);
  }
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
