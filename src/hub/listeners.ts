/**
 * Who hears the hub's activity, and in which order: listeners in the order they were added,
 * except that a `last` one stays after every listener added later (the presence view: what a
 * session does goes out before the transition it causes). HEARD fires on every uplink, so only
 * the listeners that want it are kept apart: with none, an uplink costs nothing.
 */
import { type Activity, type ActivityName, nowNs } from "./activity.ts";
import type { Session } from "./session.ts";

/** An activity listener of the hub's own: it is also handed the session (for an OFFLINE, the one that ended). */
export type HubActivityListener = (a: Activity, session: Session) => void;

export class ActivityListeners {
  private readonly all: HubActivityListener[] = [];
  private readonly heard: HubActivityListener[] = [];
  private readonly last = new Set<HubActivityListener>();

  get wantHeard(): boolean {
    return this.heard.length > 0;
  }

  /** `heard: false`: the listener never gets HEARD. Answers how to remove it. */
  add(listener: HubActivityListener, opts: { heard?: boolean; last?: boolean } = {}): () => void {
    if (opts.last) this.last.add(listener);
    for (const list of opts.heard === false ? [this.all] : [this.all, this.heard]) {
      let at = list.length;
      if (!opts.last) while (at > 0 && this.last.has(list[at - 1] as HubActivityListener)) at--;
      list.splice(at, 0, listener);
    }
    return () => {
      this.last.delete(listener);
      for (const list of [this.all, this.heard]) {
        const i = list.indexOf(listener);
        if (i >= 0) list.splice(i, 1);
      }
    };
  }

  emit(type: ActivityName, s: Session, rid: string, time?: string): void {
    const listeners = type === "HEARD" ? this.heard : this.all;
    if (listeners.length === 0) return;
    const a: Activity = { type, uid: s.uid, rid, time: time ?? nowNs() };
    for (const l of listeners) l(a, s);
  }
}
