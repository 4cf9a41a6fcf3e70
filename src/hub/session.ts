/** A user's session: created on a successful AUTH, destroyed when its connection ends. */

/** How the hub reaches the connection that owns a session. */
export interface SessionLink {
  send(frame: string): void;
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
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
}

export interface RoomView {
  rid: string;
  room: SessionView[];
}

export interface Dump {
  world: SessionView[];
  rooms: RoomView[];
}
