/** Two comet instances on one real broker: events reach users wherever they are; one session per uid. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { type Client, connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let broker: TestBroker;
let a: Comet;
let b: Comet;
let obs: Observer;

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "${broker.url}"}`;
  [a, b] = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  obs = await Observer.connect(broker.url, ["comet/user-activity"]);
});

afterAll(async () => {
  await obs?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await broker?.stop();
});

const send = (event: { uid?: string; rid?: string; evt: string }) => sendEvent(broker.url, "comet/events", event);
const closeAll = async (...cs: Client[]) => {
  for (const c of cs) c.close();
  await Promise.all(cs.map((c) => c.closed));
};

/**
 * Events from one publisher reach each instance in order, so a world broadcast sent last marks
 * the point by which every earlier event has been handled everywhere.
 */
async function fence(...cs: Client[]): Promise<void> {
  await send({ evt: "fence" });
  await Promise.all(cs.map((c) => c.until(() => c.pushes().includes("fence"), 5000, "the fence")));
}

describe("events through the broker", () => {
  test("an Event with a uid reaches that user on whichever instance holds the session, and no one else", async () => {
    const alice = await connect(a, "alice");
    const bob = await connect(b, "bob");
    await send({ uid: "alice", evt: "for alice" });
    await send({ uid: "bob", rid: "ignored-when-uid-is-set", evt: "for bob" });
    await fence(alice, bob);
    expect(alice.pushes()).toEqual(["for alice", "fence"]);
    expect(bob.pushes()).toEqual(["for bob", "fence"]);
    await closeAll(alice, bob);
  });

  test("an Event with a rid reaches the room spread over both instances, and only the room", async () => {
    const carol = await connect(a, "carol", { rid: "r1" });
    const dave = await connect(b, "dave", { rid: "r1" });
    const erin = await connect(b, "erin", { rid: "r2" });
    const frank = await connect(a, "frank");
    await send({ rid: "r1", evt: "to r1" });
    await fence(carol, dave, erin, frank);
    expect(carol.pushes()).toEqual(["to r1", "fence"]);
    expect(dave.pushes()).toEqual(["to r1", "fence"]);
    expect(erin.pushes()).toEqual(["fence"]);
    expect(frank.pushes()).toEqual(["fence"]);
    await closeAll(carol, dave, erin, frank);
  });

  test("an Event with neither uid nor rid reaches the whole world on both instances, evt byte for byte", async () => {
    const evt = JSON.stringify({ server: "s", event: "e", data: 'quote " and \u{1f600}', id: "1", time: 1 });
    const gus = await connect(a, "gus", { rid: "r3" });
    const hal = await connect(b, "hal");
    await send({ uid: "", rid: "", evt });
    await Promise.all([gus.waitPushes(1), hal.waitPushes(1)]);
    expect(gus.pushes()).toEqual([evt]);
    expect(hal.raw[0]).toBe(JSON.stringify({ t: "PUSH", push: { evt } }));
    await closeAll(gus, hal);
  });

  test("each instance counts what it did with an event: delivered here, or no one here", async () => {
    const ivy = await connect(b, "ivy");
    const noOne = await metric(a, "comet_bridge_events_in_total", { outcome: "no_recipient" });
    const delivered = await metric(b, "comet_bridge_events_in_total", { outcome: "delivered" });
    await send({ uid: "ivy", evt: "x" });
    await ivy.waitPushes(1);
    expect(await metric(b, "comet_bridge_events_in_total", { outcome: "delivered" })).toBe(delivered + 1);
    await waitFor(
      async () => (await metric(a, "comet_bridge_events_in_total", { outcome: "no_recipient" })) === noOne + 1,
      "A to count the event for no one there",
    );
    await closeAll(ivy);
  });
});

describe("one session per uid across the cluster", () => {
  test("a login on B closes the older session on A with 4409; the new one lives on", async () => {
    const before = await metric(a, "comet_bridge_activity_in_total", { outcome: "replaced" });
    const onA = await connect(a, "zoe", { rid: "lobby" });
    const onB = await connect(b, "zoe");
    const closed = await onA.waitClose(5000);
    expect(closed.code).toBe(4409);
    expect(closed.reason).toContain("another instance");
    expect(a.hub.sessions.has("zoe")).toBe(false);
    await send({ uid: "zoe", evt: "hello zoe" });
    expect(await onB.waitPushes(1)).toEqual(["hello zoe"]);
    expect(onA.pushes()).toEqual([]);
    expect(await metric(a, "comet_bridge_activity_in_total", { outcome: "replaced" })).toBe(before + 1);
    // A's session ends with its own LEAVE_ROOM and OFFLINE; B's ONLINE came first, from another server.
    await obs.until(() => obs.story("zoe").includes("OFFLINE"), "zoe's OFFLINE");
    const zoe = obs.activity("zoe");
    expect(
      zoe.map((x) => [x.type, x.server === a.bridge?.id ? "A" : x.server === b.bridge?.id ? "B" : x.server]),
    ).toEqual([
      ["ONLINE", "A"],
      ["ENTER_ROOM", "A"],
      ["ONLINE", "B"],
      ["LEAVE_ROOM", "A"],
      ["OFFLINE", "A"],
    ]);
    onB.close();
  });

  /** The ONLINE time the instance published for uid's current session. */
  async function onlineTime(uid: string, server: Comet): Promise<bigint> {
    const mine = () => obs.activity(uid).filter((x) => x.type === "ONLINE" && x.server === server.bridge?.id);
    await obs.until(() => mine().length > 0, `${uid}'s ONLINE`);
    return BigInt(mine().at(-1)!.time);
  }

  /** Publishes an ONLINE as another instance would, then an Event, from one connection, so in order. */
  async function onlineThenEvent(uid: string, time: bigint, server: string, evt: string): Promise<void> {
    const online = { type: "ONLINE", uid, rid: "", time: String(time), server };
    await obs.publish("comet/user-activity", JSON.stringify(online));
    await obs.publish("comet/events", JSON.stringify({ uid, evt }));
  }

  test("a stale ONLINE from another instance, older than the local session, does not close it", async () => {
    const yan = await connect(a, "yan");
    const t = await onlineTime("yan", a);
    const kept = await metric(a, "comet_bridge_activity_in_total", { outcome: "kept" });
    await onlineThenEvent("yan", t - 1_000_000_000n, "late-instance", "still here");
    expect(await yan.waitPushes(1)).toEqual(["still here"]);
    expect(yan.closeInfo).toBeUndefined();
    expect(await metric(a, "comet_bridge_activity_in_total", { outcome: "kept" })).toBe(kept + 1);
    yan.close();
  });

  test("equal ONLINE times: the larger server id wins; one nanosecond newer wins whatever the id", async () => {
    const id = a.bridge!.id;
    const smaller = "";
    const larger = `${id}~`;

    const xia = await connect(a, "xia");
    const t = await onlineTime("xia", a);
    await onlineThenEvent("xia", t, smaller, "tie lost by the other");
    expect(await xia.waitPushes(1)).toEqual(["tie lost by the other"]);
    await onlineThenEvent("xia", t, larger, "never");
    expect((await xia.waitClose(5000)).code).toBe(4409);
    expect(xia.pushes()).toEqual(["tie lost by the other"]);

    const wu = await connect(a, "wu");
    const tw = await onlineTime("wu", a);
    await onlineThenEvent("wu", tw + 1n, smaller, "never");
    expect((await wu.waitClose(5000)).code).toBe(4409);
    expect(wu.pushes()).toEqual([]);
  });

  test("an instance ignores its own ONLINE, however new", async () => {
    const val = await connect(a, "val");
    const t = await onlineTime("val", a);
    await onlineThenEvent("val", t + 60_000_000_000n, a.bridge!.id, "mine");
    expect(await val.waitPushes(1)).toEqual(["mine"]);
    expect(val.closeInfo).toBeUndefined();
    val.close();
  });
});
