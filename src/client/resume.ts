/**
 * Where the client resumes from: the positions of the PUSH frames it delivered (the PositionBook),
 * the last SSE stream's event id and that stream's room, and the room of the last open link. It
 * writes the `recover` of a reconnect (an AUTH, or an SSE stream's Last-Event-ID) and of a JOIN back.
 */
import type { Recover } from "../protocol/frames.ts";
import { parseEventId } from "../protocol/event-id.ts";
import { type Accepted, PositionBook, type PushPosition } from "./positions.ts";

export class Resume {
  /** Send `recover` at all (positions and recover both on). */
  readonly #recover: boolean;
  readonly #book = new PositionBook();
  /** The SSE stream's last event id, and the room of that stream; cleared when a WebSocket opens. */
  #lastEventId: string | undefined;
  #lastEventRid = "";
  /** A connection was open before: the next AUTH recovers what was missed since. */
  #wasOpen = false;
  /** The room the last open connection was in (a loss leaves it; join() while away changes the client's rid only). */
  #liveRid = "";

  constructor(recover: boolean) {
    this.#recover = recover;
  }

  /** The `recover` of a new link into rid; undefined for the first link, or with recover off. */
  reconnect(rid: string): Recover | undefined {
    return this.#recover && this.#wasOpen ? this.#from(rid) : undefined;
  }

  /** The `recover` of a JOIN from room `from` to rid: undefined unless back into a room the client was in. */
  rejoin(rid: string, from: string): Recover | undefined {
    return rid !== from && this.#recover ? this.#book.rejoin(rid) : undefined;
  }

  /** A link into rid opened. A WebSocket's: from here on the positions are the book's alone. */
  opened(rid: string): void {
    this.#lastEventId = undefined;
    this.#wasOpen = true;
    this.#liveRid = rid;
  }

  /** A JOIN to rid was sent on the open link. */
  joined(rid: string): void {
    this.#liveRid = rid;
  }

  /** The SSE stream into rid moved to id (it holds every stream's position). */
  eventId(id: string, rid: string): void {
    this.#lastEventId = id;
    this.#lastEventRid = rid;
  }

  /** A PUSH with a position: new, a duplicate, or after a gap (kept unless a duplicate). */
  accept(position: PushPosition): Accepted {
    return this.#book.accept(position);
  }

  /** A stream the server could not recover: from its next PUSH on, the numbering is taken as it comes. */
  forget(stream: string): void {
    this.#book.forget(stream);
  }

  /**
   * Where a new link into rid resumes: the last SSE stream's id when there is one (it holds every
   * stream's position, also of one from which nothing came yet; its room's only when it was this
   * room), else the positions of the PUSH frames received (a stream with none is asked from
   * nowhere: a possible loss is reported as a gap rather than missed in silence).
   */
  #from(rid: string): Recover {
    const id = this.#lastEventId === undefined ? undefined : parseEventId(this.#lastEventId);
    if (!id) return this.#book.reconnect(rid, rid === this.#liveRid);
    if (this.#lastEventRid === rid) return id;
    // Into another room: its position only if the client was in it before, as a JOIN back does.
    return { u: id.u, w: id.w, ...this.#book.rejoin(rid) };
  }
}
