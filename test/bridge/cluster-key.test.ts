/** mqtt.cluster_key on a shared broker: signed activity replaces as before; forged activity closes nothing. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encodeStatus } from "../../src/bridge/cluster/servers.ts";
import { activitySignature } from "../../src/util/signature.ts";
import { connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const KEY = "a-cluster-key-shared-by-the-instances";
let broker: TestBroker;
let a: Comet;
let b: Comet;
let obs: Observer;

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "${broker.url}", cluster_key: "${KEY}"}`;
  [a, b] = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  obs = await Observer.connect(broker.url, ["comet/user-activity"]);
});

afterAll(async () => {
  await obs?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await broker?.stop();
});

/** A forged ONLINE, far in the future so that it would win, then an Event from the same connection (in order). */
async function forge(uid: string, sig: string | undefined, evt: string): Promise<void> {
  const online: Record<string, string> = {
    type: "ONLINE",
    uid,
    rid: "",
    time: "9999999999999999999",
    server: "zz-evil",
  };
  if (sig !== undefined) online.sig = sig;
  await obs.publish("comet/user-activity", JSON.stringify(online));
  await obs.publish("comet/events", JSON.stringify({ uid, evt }));
}

test("an instance's activity goes out signed, and a login on the other instance still replaces the session (4409)", async () => {
  const first = await connect(a, "ck-ann");
  await obs.until(() => obs.activity("ck-ann", a.bridge!.id).length > 0, "ck-ann's ONLINE");
  const sent = JSON.parse(
    obs.messages.find((m) => m.text.includes('"ck-ann"') && m.text.includes('"ONLINE"'))!.text,
  ) as Record<string, string>;
  const { sig, ...fields } = sent;
  expect(sig).toBe(activitySignature(KEY, fields as never));
  const second = await connect(b, "ck-ann");
  expect((await first.waitClose(5000)).code).toBe(4409);
  expect(second.closeInfo).toBeUndefined();
  second.close();
});

test("a forged ONLINE without a signature, or with a wrong one, closes nobody and is counted as unsigned", async () => {
  const victim = await connect(a, "ck-bob");
  const before = await metric(a, "comet_bridge_activity_in_total", { outcome: "unsigned" });
  await forge("ck-bob", undefined, "still here 1");
  await forge(
    "ck-bob",
    activitySignature("a-guessed-key", {
      type: "ONLINE",
      uid: "ck-bob",
      rid: "",
      time: "9999999999999999999",
      server: "zz-evil",
    }),
    "still here 2",
  );
  expect(await victim.waitPushes(2)).toEqual(["still here 1", "still here 2"]);
  expect(victim.closeInfo).toBeUndefined();
  expect(await metric(a, "comet_bridge_activity_in_total", { outcome: "unsigned" })).toBeGreaterThanOrEqual(before + 2);
  victim.close();
});

test("server statuses go out signed; an unsigned or wrongly signed offline drops no instance, counted as unsigned", async () => {
  const watcher = await Observer.connect(broker.url, ["comet/servers/+"]);
  try {
    const bId = b.bridge!.id;
    await watcher.until(() => watcher.messages.some((m) => m.topic === `comet/servers/${bId}`), "B's status");
    const { sig, ...fields } = JSON.parse(
      watcher.messages.find((m) => m.topic === `comet/servers/${bId}`)!.text,
    ) as Record<string, string>;
    expect(fields.type).toBe("online");
    expect(sig).toBe(activitySignature(KEY, { type: "online", uid: "", rid: "", time: fields.time!, server: bId }));
    await waitFor(async () => (await metric(a, "comet_cluster_servers")) === 2, "A to see B");
    const unsigned = await metric(a, "comet_bridge_activity_in_total", { outcome: "unsigned" });
    await watcher.publish(`comet/servers/${bId}`, encodeStatus("offline", bId, "9999999999999999999"));
    await watcher.publish(`comet/servers/${bId}`, encodeStatus("offline", bId, "9999999999999999999", "a-guessed-key"));
    await waitFor(
      async () => (await metric(a, "comet_bridge_activity_in_total", { outcome: "unsigned" })) === unsigned + 2,
      "A to count two unsigned statuses",
    );
    expect(await metric(a, "comet_cluster_servers")).toBe(2);
  } finally {
    await watcher.close();
  }
});

test("presence transitions go out signed; a view snapshot without a valid signature is ignored and counted", async () => {
  const watcher = await Observer.connect(broker.url, ["comet/presence"]);
  try {
    const c = await connect(a, "ck-pres");
    await watcher.until(() => watcher.messages.some((m) => m.text.includes('"ck-pres"')), "ck-pres's ONLINE");
    const { sig, since, ...fields } = JSON.parse(watcher.messages[0]!.text) as Record<string, string>;
    expect(fields.type).toBe("ONLINE");
    expect(since).toBe(fields.time);
    expect(sig).toBe(activitySignature(KEY, fields as never));
    c.close();
    const bId = b.bridge!.id;
    const unsigned = await metric(a, "comet_bridge_views_in_total", { outcome: "unsigned" });
    const forged = JSON.stringify({ type: "view", server: bId, time: "1", seats: [["ck-ghost", "", "1", "1"]] });
    await watcher.publish(`comet/servers/${bId}/view`, forged);
    await waitFor(
      async () => (await metric(a, "comet_bridge_views_in_total", { outcome: "unsigned" })) === unsigned + 1,
      "A to count the unsigned view",
    );
    const res = await fetch(`${a.url}/comet/Comet/Presence`, {
      method: "POST",
      headers: { authorization: "Bearer admin-token-for-tests" },
      body: JSON.stringify({ uids: ["ck-ghost"] }),
    });
    expect(await res.json()).toEqual({ online: [] });
  } finally {
    await watcher.close();
  }
});
