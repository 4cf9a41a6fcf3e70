/** User activity (docs/protocol.md, "Activity out"): emitted by the hub, sent over the broker by the bridge, read by webhooks and tests. */
export const ActivityType = {
  UNSPECIFIED: 0,
  ONLINE: 1,
  OFFLINE: 2,
  HEARD: 3,
  ENTER_ROOM: 4,
  LEAVE_ROOM: 5,
} as const;
export type ActivityName = Exclude<keyof typeof ActivityType, "UNSPECIFIED">;

/** Every activity name, in wire-number order (ONLINE, number 1, first): ActivityType without UNSPECIFIED. */
export const ACTIVITY_NAMES: readonly ActivityName[] = (
  Object.keys(ActivityType) as Array<keyof typeof ActivityType>
).filter((name): name is ActivityName => name !== "UNSPECIFIED");

export function isActivityName(name: unknown): name is ActivityName {
  return typeof name === "string" && (ACTIVITY_NAMES as readonly string[]).includes(name);
}

export interface Activity {
  type: ActivityName;
  uid: string;
  rid: string;
  /** Nanoseconds since the epoch, as a decimal string (proto3 JSON for int64). */
  time: string;
}

export type ActivityListener = (a: Activity) => void;

/** Wall-clock time in microseconds: what the clock resolves, and exact in a double until 2255. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

/** Wall-clock time in nanoseconds as a string; microsecond resolution is what the clock gives. */
export function nowNs(): string {
  return `${nowUs()}000`;
}
