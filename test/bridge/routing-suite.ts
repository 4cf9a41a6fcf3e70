/**
 * The routed cluster's tests (mqtt.routing, mqtt.forward_api), for any broker: routing.test.ts
 * runs them on Mosquitto, routing-rabbitmq.test.ts on a private RabbitMQ node. Four instances,
 * users spread over them; what each instance received is read off its /metrics.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RoutedTopics } from "../../src/bridge/routing/topics.ts";
import { api, type Client, connect, quietSessions } from "../helpers.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

export interface BrokerUnderTest {
  url: string;
  stop(): Promise<void>;
}

const USERS = 4000;

/** A group of instances on its own events and activity topics, so that groups on one broker never meet. */
async function startGroup(url: string, name: string, n: number, mqtt: string): Promise<Comet[]> {
  const yaml = `mqtt: {url: "${url}", events_topic: "${name}/events", activity_topic: "${name}/activity", ${mqtt}}`;
  const group = await Promise.all(Array.from({ length: n }, () => startComet(yaml)));
  await Promise.all(group.map((c) => waitReadyz(c, 200, 30_000)));
  return group;
}

const eventsIn = (c: Comet, outcome: string) => metric(c, "comet_bridge_events_in_total", { outcome });

/** Every routed subscription asked for is acknowledged, and the instance holds `routes` topics. */
async function routesSettled(c: Comet, routes?: number, ms = 20_000): Promise<void> {
  await waitFor(
    async () =>
      (await metric(c, "comet_bridge_routes_pending")) === 0 &&
      (routes === undefined || (await metric(c, "comet_bridge_routes")) === routes),
    `routed subscriptions to settle${routes === undefined ? "" : ` at ${routes}`}`,
    ms,
  );
}

const closeAll = async (...cs: Client[]) => {
  for (const c of cs) c.close();
  await Promise.all(cs.map((c) => c.closed));
};

export interface SuiteOptions {
  /** How long 10,000 routed subscriptions may take to be acknowledged: RabbitMQ makes a binding for each. */
  stormMs?: number;
}

export function routingSuite(label: string, start: () => Promise<BrokerUnderTest>, opts: SuiteOptions = {}): void {
  const stormMs = opts.stormMs ?? 20_000;
  let broker: BrokerUnderTest;
  let routedGroup: Comet[];
  let legacyGroup: Comet[];
  let pub: Observer;
  const routed = new RoutedTopics("routed/events");

  beforeAll(async () => {
    broker = await start();
    [routedGroup, legacyGroup] = await Promise.all([
      startGroup(broker.url, "routed", 4, "routing: on, forward_api: true"),
      startGroup(broker.url, "legacy", 4, "routing: off, forward_api: true"),
    ]);
    pub = await Observer.connect(broker.url, []);
  }, 120_000);

  afterAll(async () => {
    await pub?.close();
    await Promise.all([...(routedGroup ?? []), ...(legacyGroup ?? [])].map((c) => c.stop()));
    await broker?.stop();
  }, 120_000);

  describe(`${label}: routed events (mqtt.routing: on)`, () => {
    test("4 instances, 4,000 users: each instance receives the unicasts of its own users and no other", async () => {
      const uids = Array.from({ length: USERS }, (_, i) => `u-${i}`);
      const mine = (k: number) => uids.filter((_, i) => i % 4 === k);
      await Promise.all(
        routedGroup.map((c, k) =>
          quietSessions(
            c,
            mine(k).map((uid) => ({ uid })),
          ),
        ),
      );
      await Promise.all(routedGroup.map((c) => routesSettled(c, USERS / 4)));
      const delivered = await Promise.all(routedGroup.map((c) => eventsIn(c, "delivered")));
      const noOne = await Promise.all(routedGroup.map((c) => eventsIn(c, "no_recipient")));
      for (const uid of uids) await pub.publish(routed.user(uid) as string, JSON.stringify({ uid, evt: uid }));
      // From one publisher, in order: the world Event marks that every unicast before it was handled.
      await pub.publish(routed.world, JSON.stringify({ evt: "fence" }));
      await Promise.all(
        routedGroup.map((c, k) =>
          waitFor(
            async () => (await eventsIn(c, "delivered")) === (delivered[k] as number) + USERS / 4 + 1,
            "the fence",
            20_000,
          ),
        ),
      );
      for (const [k, c] of routedGroup.entries()) expect(await eventsIn(c, "no_recipient")).toBe(noOne[k] as number);
    }, 60_000);

    test("a room spread over instances gets each broadcast once per member; an instance with no member none", async () => {
      const [a, b, c, d] = routedGroup as [Comet, Comet, Comet, Comet];
      const members = [await connect(a, "r-ann", { rid: "spread" }), await connect(b, "r-bea", { rid: "spread" })];
      members.push(await connect(c, "r-cat", { rid: "spread" }), await connect(c, "r-cid", { rid: "spread" }));
      const outsider = await connect(d, "r-dan", { rid: "elsewhere" });
      await Promise.all(routedGroup.map((x) => routesSettled(x)));
      const dBefore = (await eventsIn(d, "delivered")) + (await eventsIn(d, "no_recipient"));
      await pub.publish(routed.room("spread") as string, JSON.stringify({ rid: "spread", evt: "to the room" }));
      await pub.publish(routed.world, JSON.stringify({ evt: "fence" }));
      for (const m of members) expect(await m.waitPushes(2, 5000)).toEqual(["to the room", "fence"]);
      expect(await outsider.waitPushes(1, 5000)).toEqual(["fence"]);
      // D saw the world fence and nothing else: it holds no subscription to the room.
      expect((await eventsIn(d, "delivered")) + (await eventsIn(d, "no_recipient"))).toBe(dBefore + 1);
      await closeAll(...members, outsider);
    });

    test("a user who moves to another instance keeps receiving; the one it left unsubscribes after a second", async () => {
      const [a, b] = routedGroup as [Comet, Comet];
      const onA = await connect(a, "mover");
      await routesSettled(a);
      await pub.publish(routed.user("mover") as string, JSON.stringify({ uid: "mover", evt: "on A" }));
      expect(await onA.waitPushes(1, 5000)).toEqual(["on A"]);
      const onB = await connect(b, "mover");
      expect((await onA.waitClose(5000)).code).toBe(4409);
      await routesSettled(b);
      await pub.publish(routed.user("mover") as string, JSON.stringify({ uid: "mover", evt: "on B" }));
      expect(await onB.waitPushes(1, 5000)).toEqual(["on B"]);
      expect(onA.pushes()).toEqual(["on A"]);
      // Once the linger is over, A no longer receives the mover's Events: only the fence reaches it.
      await Bun.sleep(1600);
      const aSeen = async () => (await eventsIn(a, "delivered")) + (await eventsIn(a, "no_recipient"));
      const seen = await aSeen();
      await pub.publish(routed.user("mover") as string, JSON.stringify({ uid: "mover", evt: "again on B" }));
      await pub.publish(routed.world, JSON.stringify({ evt: "fence" }));
      expect(await onB.waitPushes(3, 5000)).toEqual(["on B", "again on B", "fence"]);
      await waitFor(async () => (await aSeen()) === seen + 1, "A to see the fence", 5000);
      expect(await aSeen()).toBe(seen + 1);
      await closeAll(onB);
    });

    test("a uid that leaves and comes back within a second costs no UNSUBSCRIBE", async () => {
      const a = routedGroup[0] as Comet;
      const first = await connect(a, "bouncer");
      await routesSettled(a);
      const packets = async () => [
        await metric(a, "comet_bridge_route_packets_total", { type: "subscribe" }),
        await metric(a, "comet_bridge_route_packets_total", { type: "unsubscribe" }),
      ];
      const before = await packets();
      await closeAll(first);
      const again = await connect(a, "bouncer");
      await Bun.sleep(1500);
      expect(await packets()).toEqual(before);
      await pub.publish(routed.user("bouncer") as string, JSON.stringify({ uid: "bouncer", evt: "still routed" }));
      expect(await again.waitPushes(1, 5000)).toEqual(["still routed"]);
      await closeAll(again);
    });

    test(
      "10,000 users logging in at once, then again: a few SUBSCRIBE packets, no UNSUBSCRIBE",
      async () => {
        const b = routedGroup[1] as Comet;
        await routesSettled(b);
        const routes = await metric(b, "comet_bridge_routes");
        const subscribes = await metric(b, "comet_bridge_route_packets_total", { type: "subscribe" });
        const unsubscribes = await metric(b, "comet_bridge_route_packets_total", { type: "unsubscribe" });
        const storm = Array.from({ length: 10_000 }, (_, i) => ({ uid: `storm-${i}` }));
        await quietSessions(b, storm);
        await routesSettled(b, routes + 10_000, stormMs);
        const sent = (await metric(b, "comet_bridge_route_packets_total", { type: "subscribe" })) - subscribes;
        expect(sent).toBeGreaterThanOrEqual(10);
        expect(sent).toBeLessThanOrEqual(20);
        // Every one of them again (each new session replaces the last): the topics stay as they are.
        await quietSessions(b, storm);
        await Bun.sleep(1500);
        expect(await metric(b, "comet_bridge_routes")).toBe(routes + 10_000);
        expect(await metric(b, "comet_bridge_route_packets_total", { type: "subscribe" })).toBe(subscribes + sent);
        expect(await metric(b, "comet_bridge_route_packets_total", { type: "unsubscribe" })).toBe(unsubscribes);
      },
      stormMs + 30_000,
    );

    test("hostile uids subscribe no wildcard: '#', '+', '*' and 'a/b' receive their own Events only", async () => {
      const [a, b] = routedGroup as [Comet, Comet];
      const names = ["#", "+", "victim/x", "*", "x.*"];
      const hostile = await Promise.all(names.map((uid) => connect(a, uid)));
      const victim = await connect(b, "victim");
      await Promise.all([routesSettled(a), routesSettled(b)]);
      const aSeen = async () => (await eventsIn(a, "delivered")) + (await eventsIn(a, "no_recipient"));
      const before = await aSeen();
      await pub.publish(routed.user("victim") as string, JSON.stringify({ uid: "victim", evt: "for the victim" }));
      for (const uid of names) {
        // "*" has no routed topic (a wildcard on AMQP brokers): its Events go on the events topic.
        const topic = routed.user(uid) ?? "routed/events";
        await pub.publish(topic, JSON.stringify({ uid, evt: `for ${uid}` }));
      }
      expect(routed.user("*")).toBeUndefined();
      expect(await victim.waitPushes(1, 5000)).toEqual(["for the victim"]);
      for (const [i, uid] of names.entries()) {
        expect(await (hostile[i] as Client).waitPushes(1, 5000)).toEqual([`for ${uid}`]);
      }
      // A received its own five and not the victim's.
      await waitFor(async () => (await aSeen()) >= before + names.length, "A's Events", 5000);
      expect(await aSeen()).toBe(before + names.length);
      await closeAll(...hostile, victim);
    });

    test("a uid no broker takes in a topic (a control character) is reached on the events topic; the bridge stays up", async () => {
      const a = routedGroup[0] as Comet;
      const uid = "ctluid";
      const c = await connect(a, uid);
      await routesSettled(a);
      await pub.publish("routed/events", JSON.stringify({ uid, evt: "through the events topic" }));
      expect(await c.waitPushes(1, 5000)).toEqual(["through the events topic"]);
      expect(await metric(a, "comet_bridge_connected")).toBe(1);
      expect(await metric(a, "comet_bridge_reconnects_total")).toBe(0);
      await closeAll(c);
    });

    test("the events topic keeps working beside the routed topics", async () => {
      const [a, b] = routedGroup as [Comet, Comet];
      const x = await connect(a, "legacy-x", { rid: "legacy-room" });
      const y = await connect(b, "legacy-y");
      await pub.publish("routed/events", JSON.stringify({ uid: "legacy-y", evt: "unicast" }));
      await pub.publish("routed/events", JSON.stringify({ rid: "legacy-room", evt: "room" }));
      await pub.publish("routed/events", JSON.stringify({ evt: "world" }));
      expect(await x.waitPushes(2, 5000)).toEqual(["room", "world"]);
      expect(await y.waitPushes(2, 5000)).toEqual(["unicast", "world"]);
      await closeAll(x, y);
    });
  });

  for (const [mode, group] of [
    ["routing: on", () => routedGroup],
    ["routing: off", () => legacyGroup],
  ] as const) {
    describe(`${label}: the API for the whole cluster (forward_api: true, ${mode})`, () => {
      test("an HTTP Publish to any instance reaches the user wherever it is, once", async () => {
        const g = group();
        const users = await Promise.all(g.map((c, k) => connect(c, `fwd-${mode}-${k}`)));
        await Promise.all(g.map((c) => routesSettled(c)));
        for (const [k, c] of g.entries()) {
          for (const u of users.keys()) {
            const res = await api(c, "Publish", { uid: `fwd-${mode}-${u}`, evt: `from ${k}` });
            expect(res.status).toBe(200);
          }
        }
        // A fence from each instance, after its publishes on the same broker connection: once every
        // fence is in, nothing an instance forwarded is still on its way. Instances race each other.
        for (const c of g) await api(c, "Broadcast", { evt: "fence" });
        for (const u of users) {
          await u.until(() => u.pushes().filter((p) => p === "fence").length === 4, 5000, "4 fences");
          expect(
            u
              .pushes()
              .filter((p) => p !== "fence")
              .sort(),
          ).toEqual(["from 0", "from 1", "from 2", "from 3"]);
        }
        await closeAll(...users);
      });

      test("a Broadcast to a room spread over instances reaches each member once, the origin's too", async () => {
        const g = group();
        const room = `fwd-room-${mode}`;
        const members = await Promise.all(g.slice(0, 3).map((c, k) => connect(c, `fm-${mode}-${k}`, { rid: room })));
        const outsider = await connect(g[3] as Comet, `fo-${mode}`);
        await Promise.all(g.map((c) => routesSettled(c)));
        expect((await api(g[0] as Comet, "Broadcast", { rid: room, evt: "to the room" })).status).toBe(200);
        for (const c of g) expect((await api(c, "Broadcast", { evt: "fence" })).status).toBe(200);
        for (const m of [...members, outsider]) {
          await m.until(() => m.pushes().filter((p) => p === "fence").length === 4, 5000, "4 fences");
        }
        for (const m of members) expect(m.pushes().filter((p) => p !== "fence")).toEqual(["to the room"]);
        expect(outsider.pushes().filter((p) => p !== "fence")).toEqual([]);
        await closeAll(...members, outsider);
      });

      test("a Batch forwards each of its deliveries like Publish and Broadcast; a bad command still answers alone", async () => {
        const g = group();
        const far = await connect(g[2] as Comet, `fb-${mode}`, { rid: `fb-room-${mode}` });
        await routesSettled(g[2] as Comet);
        const res = await api(g[0] as Comet, "Batch", {
          commands: [
            { publish: { uid: `fb-${mode}`, evt: "one" } },
            { publish: { evt: "no uid" } },
            { broadcast: { rid: `fb-room-${mode}`, evt: "two" } },
          ],
        });
        expect(res.status).toBe(200);
        expect(res.json).toEqual({ replies: [{}, { error: { code: 400, detail: "uid is required" } }, {}] });
        expect(await far.waitPushes(2, 5000)).toEqual(["one", "two"]);
        await closeAll(far);
      });

      test("a Publish to a user of this instance is delivered here and not sent to the broker", async () => {
        const g = group();
        const a = g[1] as Comet;
        const here = await connect(a, `fl-${mode}`);
        const local = await metric(a, "comet_bridge_forwarded_total", { outcome: "local" });
        const sent = await metric(a, "comet_bridge_forwarded_total", { outcome: "sent" });
        expect((await api(a, "Publish", { uid: `fl-${mode}`, evt: "local" })).status).toBe(200);
        expect(await here.waitPushes(1)).toEqual(["local"]);
        expect(await metric(a, "comet_bridge_forwarded_total", { outcome: "local" })).toBe(local + 1);
        expect(await metric(a, "comet_bridge_forwarded_total", { outcome: "sent" })).toBe(sent);
        await closeAll(here);
      });
    });
  }

  describe(`${label}: DumpSession for the whole cluster (forward_api: true)`, () => {
    type Dump = {
      world: Array<{ uid: string; rid: string; birth: string }>;
      rooms: Array<{ rid: string; room: Array<{ uid: string }> }>;
      unanswered?: string[];
    };
    const dump = async (c: Comet) => {
      const started = Date.now();
      const res = await api(c, "DumpSession", {});
      expect(res.status).toBe(200);
      return { dump: res.json as Dump, ms: Date.now() - started };
    };
    /** Until the instances' retained statuses have reached each other. */
    const allAnswer = (g: Comet[]) =>
      waitFor(
        async () => (await dump(g[0] as Comet)).dump.world.length === total(),
        "every instance in the dump",
        10_000,
      );
    /** The cluster of the server status registry: every instance with forward_api on this broker, both groups. */
    const cluster = () => [...routedGroup, ...legacyGroup];
    const total = () => cluster().reduce((n, c) => n + c.hub.sessions.size, 0);

    test("any instance answers with every instance's sessions, in the usual order, rooms merged", async () => {
      const g = legacyGroup;
      const members = await Promise.all(g.slice(0, 3).map((c, k) => connect(c, `dump-${k}`, { rid: "dump-room" })));
      const alone = await connect(g[3] as Comet, "dump-alone");
      await allAnswer(g);
      for (const c of g) {
        const { dump: d, ms } = await dump(c);
        expect(d.unanswered).toBeUndefined();
        expect(ms).toBeLessThan(1500);
        expect(d.world.length).toBe(total());
        const births = d.world.map((s) => s.birth);
        expect(births).toEqual([...births].sort().reverse());
        expect(d.world.find((s) => s.uid === "dump-alone")).toMatchObject({ rid: "" });
        const room = d.rooms.find((r) => r.rid === "dump-room");
        expect(room?.room.map((s) => s.uid).sort()).toEqual(["dump-0", "dump-1", "dump-2"]);
        expect(d.rooms.map((r) => r.rid)).toEqual([...d.rooms.map((r) => r.rid)].sort());
      }
      await closeAll(...members, alone);
    });

    test("an instance that does not answer in time is named, and the answer comes anyway", async () => {
      const g = legacyGroup;
      await allAnswer(g);
      // Instances in name only: online by their retained status (servers.ts's JSON), deaf to requests.
      const status = (type: string, server: string) => JSON.stringify({ type, server, time: "1" });
      await pub.client.publishAsync("comet/servers/ghost", status("online", "ghost"), { qos: 1, retain: true });
      await pub.client.publishAsync("comet/servers/ghost-2", status("online", "ghost-2"), { qos: 1, retain: true });
      // A bare `online` is no status: never waited for.
      await pub.client.publishAsync("comet/servers/ghost-bare", "online", { qos: 1, retain: true });
      await waitFor(
        async () => (await dump(g[1] as Comet)).dump.unanswered?.length === 2,
        "the ghosts to count",
        10_000,
      );
      const { dump: d, ms } = await dump(g[2] as Comet);
      expect(d.unanswered).toEqual(["ghost", "ghost-2"]);
      expect(ms).toBeGreaterThanOrEqual(1900);
      expect(ms).toBeLessThan(5000);
      expect(d.world.length).toBe(total());
      // A live instance leaves by its offline (an empty payload cannot be signed), then is cleared.
      for (const server of ["ghost", "ghost-2"]) {
        await pub.client.publishAsync(`comet/servers/${server}`, status("offline", server), { qos: 1, retain: true });
        await pub.client.publishAsync(`comet/servers/${server}`, "", { qos: 1, retain: true });
      }
      await pub.client.publishAsync("comet/servers/ghost-bare", "", { qos: 1, retain: true });
      await waitFor(async () => (await dump(g[1] as Comet)).dump.unanswered === undefined, "the ghost to go", 10_000);
    }, 30_000);

    test("an instance whose connection is lost is not waited for: its Last Will says offline", async () => {
      const g = legacyGroup;
      const crashed = (type: string) => JSON.stringify({ type, server: "crashed", time: "2" });
      await allAnswer(g);
      const ghost = await Observer.connect(broker.url, [], {
        will: { topic: "comet/servers/crashed", payload: Buffer.from(crashed("offline")), qos: 1, retain: true },
      });
      await ghost.client.publishAsync("comet/servers/crashed", crashed("online"), { qos: 1, retain: true });
      await waitFor(
        async () => (await dump(g[0] as Comet)).dump.unanswered !== undefined,
        "the crashed one to count",
        10_000,
      );
      // No DISCONNECT: the broker sends the will.
      ghost.client.stream.destroy();
      await waitFor(async () => (await dump(g[0] as Comet)).dump.unanswered === undefined, "the will", 10_000);
      const { dump: d, ms } = await dump(g[3] as Comet);
      expect(d.unanswered).toBeUndefined();
      expect(ms).toBeLessThan(1500);
      await pub.client.publishAsync("comet/servers/crashed", "", { qos: 1, retain: true });
    }, 30_000);
  });

  describe(`${label}: the single events topic (mqtt.routing: off)`, () => {
    test("4 instances, 4,000 users: each instance receives every unicast, three quarters of them for no one here", async () => {
      const uids = Array.from({ length: USERS }, (_, i) => `l-${i}`);
      await Promise.all(
        legacyGroup.map((c, k) =>
          quietSessions(
            c,
            uids.filter((_, i) => i % 4 === k).map((uid) => ({ uid })),
          ),
        ),
      );
      const delivered = await Promise.all(legacyGroup.map((c) => eventsIn(c, "delivered")));
      const noOne = await Promise.all(legacyGroup.map((c) => eventsIn(c, "no_recipient")));
      for (const uid of uids) await pub.publish("legacy/events", JSON.stringify({ uid, evt: uid }));
      await pub.publish("legacy/events", JSON.stringify({ evt: "fence" }));
      await Promise.all(
        legacyGroup.map((c, k) =>
          waitFor(
            async () => (await eventsIn(c, "delivered")) === (delivered[k] as number) + USERS / 4 + 1,
            "the fence",
            20_000,
          ),
        ),
      );
      for (const [k, c] of legacyGroup.entries()) {
        expect(await eventsIn(c, "no_recipient")).toBe((noOne[k] as number) + (USERS * 3) / 4);
      }
      expect(await metric(legacyGroup[0] as Comet, "comet_bridge_routes")).toBe(0);
    }, 60_000);
  });
}
