/**
 * Who hears the hub's activity, and in which order: listeners in the order they were added,
 * except that a `last` one stays after every listener added later (the presence view: what a
 * session does goes out before the transition it causes). Each activity type has its own list,
 * and a listener is on the lists of the types it asked for: a type nobody wants costs nothing,
 * not a clock read nor an object. HEARD fires on every uplink; the presence view wants only
 * ONLINE and OFFLINE, so an instance alone sends a connect's ENTER_ROOM to nobody.
 */
import { ACTIVITY_NAMES, type Activity, type ActivityName, nowNs } from "./activity.ts";
import type { Session } from "./session.ts";

/** An activity listener of the hub's own: it is also handed the session (for an OFFLINE, the one that ended). */
export type HubActivityListener = (a: Activity, session: Session) => void;

export interface ListenerOptions {
  /** false: never HEARD (a shorthand for every type but HEARD). */
  heard?: boolean;
  /** Only these types (HEARD among them only if `heard` is not false). */
  only?: readonly ActivityName[];
  last?: boolean;
}

export class ActivityListeners {
  private readonly byType = Object.fromEntries(ACTIVITY_NAMES.map((t) => [t, []])) as unknown as Record<
    ActivityName,
    HubActivityListener[]
  >;
  private readonly last = new Set<HubActivityListener>();

  get wantHeard(): boolean {
    return this.byType.HEARD.length > 0;
  }

  /** Answers how to remove it. */
  add(listener: HubActivityListener, opts: ListenerOptions = {}): () => void {
    if (opts.last) this.last.add(listener);
    const types = (opts.only ?? ACTIVITY_NAMES).filter((t) => t !== "HEARD" || opts.heard !== false);
    for (const type of types) {
      const list = this.byType[type];
      let at = list.length;
      if (!opts.last) while (at > 0 && this.last.has(list[at - 1] as HubActivityListener)) at--;
      list.splice(at, 0, listener);
    }
    return () => {
      this.last.delete(listener);
      for (const type of ACTIVITY_NAMES) {
        const list = this.byType[type];
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      }
    };
  }

  emit(type: ActivityName, s: Session, rid: string, time?: string): void {
    const listeners = this.byType[type];
    if (listeners.length === 0) return;
    const a: Activity = { type, uid: s.uid, rid, time: time ?? nowNs() };
    for (const l of listeners) l(a, s);
  }
}
