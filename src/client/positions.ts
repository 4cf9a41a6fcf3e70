/**
 * What the client knows of where it stands in each stream: the last position it delivered, by
 * stream name ("u", "w", "r:<rid>"). It decides whether a PUSH is new, a duplicate (dropped), or
 * follows a gap, and it writes the `recover` of a reconnect or a rejoin. Pure: no I/O.
 */

export interface PushPosition {
  /** "u" (its user), "w" (the world) or "r:<rid>" (a room). */
  stream: string;
  seq: number;
  epoch: string;
}

export interface Gap {
  /** The stream that has a hole: the application must fetch what it missed from its backend (SYNC). */
  stream: string;
  /**
   * not_recovered: the server could not replay it after a reconnect or rejoin (history too short or
   * too old, another instance, a restart, or no position known to ask from); seq_jump: a seq was
   * skipped; epoch_changed: the stream's numbering restarted.
   */
  reason: "not_recovered" | "seq_jump" | "epoch_changed";
  /** seq_jump: how many numbers were skipped. */
  missed?: number;
}

export type Accepted = "new" | "duplicate" | Gap;

/** The kinds `recover` names, and the position it sends when the client has none for a stream. */
type Kind = "u" | "r" | "w";
const UNKNOWN = { epoch: "", seq: 0 };
/** Rooms whose position is kept for a rejoin; the oldest entered go first. */
const MAX_ROOMS = 16;

export class PositionBook {
  private readonly last = new Map<string, { epoch: string; seq: number }>();

  /** A PUSH with a position: what to do with it. Its position is kept unless it is a duplicate. */
  accept(p: PushPosition): Accepted {
    const known = this.last.get(p.stream);
    let outcome: Accepted = "new";
    if (known) {
      if (known.epoch !== p.epoch) outcome = { stream: p.stream, reason: "epoch_changed" };
      else if (p.seq <= known.seq) return "duplicate";
      else if (p.seq > known.seq + 1) outcome = { stream: p.stream, reason: "seq_jump", missed: p.seq - known.seq - 1 };
    }
    this.remember(p.stream, { epoch: p.epoch, seq: p.seq });
    return outcome;
  }

  /**
   * The `recover` of a reconnect into room rid (`stayed`: the lost connection was in it too, else
   * it is a rejoin). A stream the session was in but of which nothing has arrived yet is asked from
   * an empty position, which the server answers false: a loss in it is then reported as a gap
   * rather than missed in silence.
   */
  reconnect(rid: string, stayed: boolean): Partial<Record<Kind, { epoch: string; seq: number }>> {
    const r: Partial<Record<Kind, { epoch: string; seq: number }>> = {
      u: this.last.get("u") ?? UNKNOWN,
      w: this.last.get("w") ?? UNKNOWN,
    };
    const room = rid === "" ? undefined : (this.last.get(`r:${rid}`) ?? (stayed ? UNKNOWN : undefined));
    if (room) r.r = room;
    return r;
  }

  /** The `recover` of a JOIN back into a room the client was in; undefined for a room it never saw. */
  rejoin(rid: string): Partial<Record<Kind, { epoch: string; seq: number }>> | undefined {
    const pos = rid === "" ? undefined : this.last.get(`r:${rid}`);
    return pos ? { r: pos } : undefined;
  }

  /** A stream the server could not recover: from its next PUSH on, the numbering is taken as it comes. */
  forget(stream: string): void {
    this.last.delete(stream);
  }

  private remember(stream: string, pos: { epoch: string; seq: number }): void {
    if (stream.startsWith("r:")) {
      // Re-inserted, so that the map's order is the order rooms were last heard from.
      this.last.delete(stream);
      let rooms = 0;
      for (const k of this.last.keys()) if (k.startsWith("r:")) rooms++;
      if (rooms >= MAX_ROOMS) {
        for (const k of this.last.keys()) {
          if (k.startsWith("r:")) {
            this.last.delete(k);
            break;
          }
        }
      }
    }
    this.last.set(stream, pos);
  }
}
