/**
 * Connections to the embedded broker that have not completed their CONNECT: anyone who reaches
 * its port makes one, before any account is checked. They are bounded in number (overall and per
 * client address), in size (the CONNECT itself: packet-guard.ts) and in time (aedes'
 * connectTimeout), so that strangers hold at most MAX_PENDING × CONNECT_MAX_BYTES of the
 * broker's memory and a few hundred of its sockets, for a few seconds each.
 */

/** The largest CONNECT (or any first packet) read: its strings (client id, user, password, will) fit with room. */
export const CONNECT_MAX_BYTES = 8 * 1024;
/** Connections not yet CONNECTed, at most, from everyone. */
export const MAX_PENDING = 256;
/** ... and from one client address, so that one host cannot take every place. */
export const MAX_PENDING_PER_ADDRESS = 32;
/** From the accept to a completed CONNECT, at most (aedes' connectTimeout). */
export const CONNECT_TIMEOUT_MS = 5000;

export type Refusal = "pending_full" | "pending_per_address";

export class PendingConnects {
  private readonly address = new Map<object, string>();
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly max = MAX_PENDING,
    private readonly maxPerAddress = MAX_PENDING_PER_ADDRESS,
  ) {}

  get size(): number {
    return this.address.size;
  }

  /** Takes a place for a new connection; why it gets none, else undefined. */
  admit(conn: object, from: string): Refusal | undefined {
    if (this.address.size >= this.max) return "pending_full";
    const n = this.perAddress.get(from) ?? 0;
    if (n >= this.maxPerAddress) return "pending_per_address";
    this.address.set(conn, from);
    this.perAddress.set(from, n + 1);
    return undefined;
  }

  /** The connection completed its CONNECT, or is gone: its place is free (once). */
  release(conn: object): void {
    const from = this.address.get(conn);
    if (from === undefined) return;
    this.address.delete(conn);
    const n = (this.perAddress.get(from) ?? 1) - 1;
    if (n > 0) this.perAddress.set(from, n);
    else this.perAddress.delete(from);
  }
}
