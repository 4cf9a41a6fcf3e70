/**
 * Revoked tokens (`"revoke": true` on a Disconnect): every token of a uid issued at or before the
 * revocation is refused at AUTH and re-AUTH (4401 `token revoked`) until the revocation lapses,
 * auth.revocation_ttl later; a token without `iat` counts as issued before.
 *
 * The store is an interface because where revocations are kept depends on the instance: the
 * RevocationTable below is this instance's memory, which every check reads (it runs for every
 * AUTH, so it is synchronous and local). With the MQTT bridge, bridge/cluster/revocations.ts keeps
 * the table in step with the broker: each revocation a retained message, read back by every
 * instance, and read in full before an instance is ready. Without a bridge, the table is all
 * there is: revocations hold on this instance and are gone with its process.
 */
import { compareUtf8 } from "../util/order.ts";

export interface Revocation {
  readonly uid: string;
  /** ms since the epoch: tokens issued at or before it are refused. */
  readonly at: number;
  /** ms since the epoch: when the revocation lapses. */
  readonly expires: number;
}

/** What the API and the connections ask of revocations, wherever they are kept. */
export interface RevocationStore {
  /**
   * Revokes uid's tokens issued until now; answers the revocation, as it is kept. A promise where
   * it is kept elsewhere first (Redis), which rejects when it could not be: then nothing is revoked.
   */
  revoke(uid: string): Revocation | Promise<Revocation>;
  /** Whether a token of uid issued at iatMs (undefined: no `iat`) is refused. */
  revoked(uid: string, iatMs: number | undefined): boolean;
  /** The revocations in force, by uid (UTF-8 byte order). */
  list(): Revocation[];
}

export type RevocationListener = (r: Revocation) => void;

/** The revocations this instance knows: made here, or (with the bridge) read from the broker. */
export class RevocationTable implements RevocationStore {
  private readonly byUid = new Map<string, Revocation>();
  private readonly listeners: RevocationListener[] = [];
  private readonly lapseListeners: RevocationListener[] = [];
  /** The earliest expiry held (or later): a sweep before it has nothing to do. */
  private nextLapse = Number.POSITIVE_INFINITY;

  constructor(
    /** auth.revocation_ttl, in ms. */
    readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  revoke(uid: string): Revocation {
    return this.keep(this.draft(uid));
  }

  /** A revocation of uid's tokens issued until now, not kept yet (a store writes it first, then keeps it). */
  draft(uid: string): Revocation {
    const at = this.now();
    return { uid, at, expires: at + this.ttlMs };
  }

  /** Keeps a revocation made here, as revoke does: onRevoke's listeners hear it. */
  keep(r: Revocation): Revocation {
    this.add(r);
    for (const l of [...this.listeners]) l(r);
    return r;
  }

  /**
   * A revocation made elsewhere (another instance, or this one before a restart). Kept when it is
   * in force and reaches further than the one held for its uid (a later `at`, or the same `at` and
   * a later expiry); answers whether it was kept.
   */
  add(r: Revocation): boolean {
    if (r.expires <= this.now()) return false;
    const held = this.byUid.get(r.uid);
    if (held && (held.at > r.at || (held.at === r.at && held.expires >= r.expires))) return false;
    this.byUid.set(r.uid, r);
    this.nextLapse = Math.min(this.nextLapse, r.expires);
    return true;
  }

  /** The revocation in force for uid, if any. */
  get(uid: string): Revocation | undefined {
    const r = this.byUid.get(uid);
    if (r && r.expires <= this.now()) {
      this.lapsed(r);
      return undefined;
    }
    return r;
  }

  revoked(uid: string, iatMs: number | undefined): boolean {
    // The common case, no revocation at all, costs one lookup in an empty map.
    if (this.byUid.size === 0) return false;
    const r = this.get(uid);
    return r !== undefined && (iatMs === undefined || iatMs <= r.at);
  }

  list(): Revocation[] {
    this.sweep();
    return [...this.byUid.values()].sort((a, b) => compareUtf8(a.uid, b.uid));
  }

  /** Drops the revocations that have lapsed. */
  sweep(): void {
    const now = this.now();
    if (now < this.nextLapse) return;
    let next = Number.POSITIVE_INFINITY;
    for (const r of this.byUid.values()) {
      if (r.expires <= now) this.lapsed(r);
      else next = Math.min(next, r.expires);
    }
    this.nextLapse = next;
  }

  private lapsed(r: Revocation): void {
    this.byUid.delete(r.uid);
    for (const l of [...this.lapseListeners]) l(r);
  }

  /** Revocations in force (those that lapsed are dropped first). */
  get size(): number {
    this.sweep();
    return this.byUid.size;
  }

  /** Called with each revocation made here (revoke), not those added from elsewhere. */
  onRevoke(listener: RevocationListener): () => void {
    return listen(this.listeners, listener);
  }

  /** Called with each revocation dropped because it lapsed, whichever call noticed. */
  onLapse(listener: RevocationListener): () => void {
    return listen(this.lapseListeners, listener);
  }
}

function listen(list: RevocationListener[], listener: RevocationListener): () => void {
  list.push(listener);
  return () => {
    const i = list.indexOf(listener);
    if (i >= 0) list.splice(i, 1);
  };
}
