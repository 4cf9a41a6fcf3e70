/**
 * The presence view alone: the grace, who emits for a dead instance, the query, snapshots. Its
 * local sessions are a map kept as the hub keeps its own (the e2e and cluster tests run the hub).
 */
import { expect, test } from "bun:test";
import type { Activity } from "../../src/hub/activity.ts";
import { type PresenceTransition, PresenceView, type ServerList } from "../../src/presence/view.ts";

class Servers implements ServerList {
  alive: string[];
  constructor(
    readonly self: string,
    ...others: string[]
  ) {
    this.alive = [self, ...others].sort();
  }
  live = () => this.alive;
  isLive = (s: string) => this.alive.includes(s);
  kill(s: string) {
    this.alive = this.alive.filter((x) => x !== s);
  }
}

let clock = 1_000_000_000_000_000_000n;
const at = () => {
  clock += 1_000_000n;
  return String(clock);
};
const act = (type: Activity["type"], uid: string, rid = ""): Activity => ({ type, uid, rid, time: at() });
const remote = (type: Activity["type"], uid: string, server: string, rid = "") => ({
  type,
  uid,
  rid,
  server,
  time: BigInt(at()),
});

function view(servers: ServerList, graceMs: number) {
  const out: PresenceTransition[] = [];
  let flaps = 0;
  const sessions = new Map<string, { rid: string; onlineUs: number }>();
  const v = new PresenceView({ servers, sessions, graceMs, emit: (t) => out.push(t), suppressed: () => flaps++ });
  /** Activity of a session here: the hub's map changes first, then the view hears of it. */
  const local = (a: Activity): void => {
    const s = a.type === "ONLINE" ? { rid: "", onlineUs: Number(BigInt(a.time) / 1000n) } : sessions.get(a.uid);
    if (!s) return;
    if (a.type === "ONLINE") sessions.set(a.uid, s);
    else if (a.type === "OFFLINE") sessions.delete(a.uid);
    else s.rid = a.type === "ENTER_ROOM" ? a.rid : "";
    v.local(a, s);
  };
  return { v, local, out, flaps: () => flaps };
}

const story = (out: PresenceTransition[]) => out.map((t) => `${t.type} ${t.uid}`);

test("the first session emits one ONLINE whose since is its time; more sessions elsewhere emit nothing", () => {
  const { v, local, out } = view(new Servers("a", "b"), 50);
  const online = act("ONLINE", "u1");
  local(online);
  v.remote(remote("ONLINE", "u1", "b"));
  expect(out).toEqual([{ type: "ONLINE", uid: "u1", rid: "", server: "a", time: online.time, since: online.time }]);
  v.close();
});

test("a reconnect within the grace on the same instance is no transition, and is counted; away past it: one OFFLINE", async () => {
  const { v, local, out, flaps } = view(new Servers("a"), 40);
  const first = act("ONLINE", "u2");
  local(first);
  local(act("OFFLINE", "u2"));
  await Bun.sleep(10);
  local(act("ONLINE", "u2"));
  expect(flaps()).toBe(1);
  await Bun.sleep(60);
  expect(story(out)).toEqual(["ONLINE u2"]);
  const gone = act("OFFLINE", "u2");
  local(gone);
  expect(v.query(["u2"])).toEqual([]);
  expect(story(out)).toEqual(["ONLINE u2"]);
  await Bun.sleep(60);
  expect(out.at(-1)).toEqual({ type: "OFFLINE", uid: "u2", rid: "", server: "a", time: gone.time, since: first.time });
  expect(out).toHaveLength(2);
  v.close();
});

test("a reconnect within the grace on another instance is no transition on either", async () => {
  const servers = new Servers("a", "b");
  const A = view(servers, 30);
  const B = view(new Servers("b", "a"), 30);
  const on = act("ONLINE", "u3");
  A.local(on);
  B.v.remote({ ...on, time: BigInt(on.time), server: "a" });
  const off = act("OFFLINE", "u3");
  A.local(off);
  B.v.remote({ ...off, time: BigInt(off.time), server: "a" });
  const again = act("ONLINE", "u3");
  B.local(again);
  A.v.remote({ ...again, time: BigInt(again.time), server: "b" });
  await Bun.sleep(60);
  expect(story(A.out)).toEqual(["ONLINE u3"]);
  expect(story(B.out)).toEqual([]);
  expect(B.v.query(["u3"])).toEqual([{ uid: "u3", rid: "", server: "b", since: on.time }]);
  // Away for good from B: B emits; A, whose session was not the last, stays silent.
  const last = act("OFFLINE", "u3");
  B.local(last);
  A.v.remote({ ...last, time: BigInt(last.time), server: "b" });
  await Bun.sleep(60);
  expect(story(A.out)).toEqual(["ONLINE u3"]);
  expect(B.out).toEqual([{ type: "OFFLINE", uid: "u3", rid: "", server: "b", time: last.time, since: on.time }]);
  A.v.close();
  B.v.close();
});

test("replacement on one instance (OFFLINE then ONLINE at once) is no transition, even with no grace", async () => {
  const { v, local, out } = view(new Servers("a"), 0);
  local(act("ONLINE", "u4"));
  local(act("OFFLINE", "u4"));
  local(act("ONLINE", "u4"));
  await Bun.sleep(10);
  expect(story(out)).toEqual(["ONLINE u4"]);
  v.close();
});

test("a dead instance: its sessions leave every view at once; after the grace only the smallest live id emits, once per user who did not come back", async () => {
  const ids = ["b", "c"];
  const views = ids.map((id) => {
    const s = new Servers(id, "a", ...ids.filter((x) => x !== id));
    return { s, ...view(s, 40) };
  });
  for (const uid of ["x1", "x2", "x3"]) {
    const on = remote("ONLINE", uid, "a", "room");
    for (const w of views) {
      w.v.remote(on);
      w.v.remote(remote("ENTER_ROOM", uid, "a", "room"));
    }
  }
  expect(views[0]!.v.room("room").map((p) => p.uid)).toEqual(["x1", "x2", "x3"]);
  for (const w of views) {
    w.s.kill("a");
    w.v.serverLeft("a");
    expect(w.v.query(["x1", "x2", "x3"])).toEqual([]);
  }
  // x2 comes back on c within the grace.
  const back = act("ONLINE", "x2");
  views[1]!.local(back);
  views[0]!.v.remote({ ...back, time: BigInt(back.time), server: "c" });
  await Bun.sleep(80);
  expect(story(views[0]!.out)).toEqual(["OFFLINE x1", "OFFLINE x3"]);
  expect(views[0]!.out.every((t) => t.server === "b")).toBe(true);
  expect(story(views[1]!.out)).toEqual([]);
  for (const w of views) w.v.close();
});

test("an instance whose last session was in its grace when it died: the smallest live id takes the OFFLINE over", async () => {
  const s = new Servers("b", "a");
  const { v, out } = view(s, 40);
  v.remote(remote("ONLINE", "y1", "a"));
  v.remote(remote("OFFLINE", "y1", "a"));
  s.kill("a");
  v.serverLeft("a");
  await Bun.sleep(70);
  expect(story(out)).toEqual(["OFFLINE y1"]);
  v.close();
});

test("an ONLINE from an instance that is not live is ignored (no ghosts); an unknown uid's OFFLINE changes nothing", async () => {
  const { v, local, out } = view(new Servers("a"), 10);
  v.remote(remote("ONLINE", "ghost", "dead-one"));
  v.remote(remote("OFFLINE", "nobody", "a"));
  local(act("OFFLINE", "nobody"));
  expect(v.size).toBe(0);
  await Bun.sleep(30);
  expect(out).toEqual([]);
  v.close();
});

test("the query answers each uid once, sorted in UTF-8 byte order, with its newest session's room and server", () => {
  const { v, local } = view(new Servers("a", "b"), 10);
  for (const uid of ["\u{1F600}", "\uFFFD", "b", "a"]) local(act("ONLINE", uid));
  local(act("ENTER_ROOM", "b", "r1"));
  v.remote(remote("ONLINE", "b", "b"));
  expect(v.query(["\u{1F600}", "\uFFFD", "b", "a", "a", "missing"]).map((p) => [p.uid, p.server, p.rid])).toEqual([
    ["a", "a", ""],
    ["b", "b", ""],
    ["\uFFFD", "a", ""],
    ["\u{1F600}", "a", ""],
  ]);
  expect(v.room("r1")).toEqual([]);
  v.remote(remote("ENTER_ROOM", "b", "b", "r1"));
  expect(v.room("r1").map((p) => p.uid)).toEqual(["b"]);
  v.close();
});

test("a snapshot carries this instance's sessions with their spans; merged elsewhere it adds them silently", () => {
  const A = view(new Servers("a", "b"), 10);
  const B = view(new Servers("b", "a"), 10);
  const on = act("ONLINE", "s1");
  A.local(on);
  A.local(act("ENTER_ROOM", "s1", "r"));
  A.v.remote(remote("ONLINE", "s2", "b"));
  const snap = A.v.snapshot();
  expect(snap).toEqual([{ uid: "s1", rid: "r", time: on.time, since: on.time }]);
  B.v.merge("a", snap);
  expect(B.v.query(["s1"])).toEqual([{ uid: "s1", rid: "r", server: "a", since: on.time }]);
  B.v.merge("not-live", [{ uid: "s9", rid: "", time: "1", since: "1" }]);
  expect(B.v.query(["s9"])).toEqual([]);
  expect(B.out).toEqual([]);
  A.v.close();
  B.v.close();
});

test("a session here keeps its span through a session elsewhere that comes and goes; by room, sessions here count", () => {
  const { v, local, out } = view(new Servers("a", "b"), 10);
  const on = act("ONLINE", "k1");
  local(on);
  local(act("ENTER_ROOM", "k1", "lobby-1"));
  const on2 = act("ONLINE", "k2");
  local(on2);
  v.remote(remote("ONLINE", "k1", "b"));
  expect(v.query(["k1"])).toEqual([{ uid: "k1", rid: "", server: "b", since: on.time }]);
  expect(v.room("lobby-1")).toEqual([]);
  v.remote(remote("OFFLINE", "k1", "b"));
  expect(v.query(["k1"])).toEqual([{ uid: "k1", rid: "lobby-1", server: "a", since: on.time }]);
  expect(v.room("lobby-1").map((p) => p.uid)).toEqual(["k1"]);
  expect(v.room("").map((p) => p.uid)).toEqual(["k2"]);
  expect(v.size).toBe(2);
  expect(v.snapshot()).toEqual([
    { uid: "k1", rid: "lobby-1", time: on.time, since: on.time },
    { uid: "k2", rid: "", time: on2.time, since: on2.time },
  ]);
  expect(story(out)).toEqual(["ONLINE k1", "ONLINE k2"]);
  v.close();
});

test("a reconnect within the grace here keeps the first span's start in the snapshot and the query", async () => {
  const { v, local, out } = view(new Servers("a"), 30);
  const first = act("ONLINE", "k3");
  local(first);
  local(act("OFFLINE", "k3"));
  const again = act("ONLINE", "k3");
  local(again);
  expect(v.snapshot()).toEqual([{ uid: "k3", rid: "", time: again.time, since: first.time }]);
  expect(v.query(["k3"])).toEqual([{ uid: "k3", rid: "", server: "a", since: first.time }]);
  await Bun.sleep(50);
  expect(story(out)).toEqual(["ONLINE k3"]);
  v.close();
});
