/**
 * docs/operations.md's external brokers, tested as documented: Mosquitto with
 * docs/brokers/mosquitto.acl and a mosquitto_passwd file, and a private RabbitMQ node with
 * docs/brokers/rabbitmq.conf and docs/brokers/rabbitmq-comet.sh. A comet instance signs in with
 * the instances' account and works; a backend publishes Events and reads activity, and nothing
 * else: its forged ONLINE never closes a session, it never reads an Event; nobody else gets in.
 * The brokers answer a refusal differently (Mosquitto 2.0 drops a forbidden PUBLISH, and grants a
 * SUBSCRIBE but delivers nothing the account may not read; RabbitMQ closes the connection for
 * either): the tests assert the outcome.
 * The RabbitMQ node starts in the background while the Mosquitto tests run.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync, type IClientOptions, type MqttClient } from "mqtt";
import { sendEvent } from "../../src/bridge/wire/send.ts";
import { RoutedTopics } from "../../src/bridge/routing/topics.ts";
import { api, type Client, connect } from "../helpers.ts";
import { ROOT } from "../support/runtime.ts";
import { TestBroker } from "./broker.ts";
import { TestRabbit } from "./rabbitmq.ts";
import { type Comet, forgedOnline, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

const BROKERS = join(ROOT, "docs", "brokers");
const MOSQUITTO_ACL = join(BROKERS, "mosquitto.acl");
const RABBITMQ_CONF = join(BROKERS, "rabbitmq.conf");
const RABBITMQ_SETUP = join(BROKERS, "rabbitmq-comet.sh");

const EVENTS = "comet/events";
const ACTIVITY = "comet/user-activity";

const INSTANCES_PASSWORD = "instances-secret-0123456789";
const BILLING_PASSWORD = "billing-secret-0123456789";
const OTHER_PASSWORD = "other-app-secret-0123456789";

interface Account {
  username: string;
  password: string;
}

/** One broker as the doc sets it up, and a comet instance on it. */
interface Setup {
  url: string;
  instance: Account;
  backend: Account;
  /** Accounts of another application on the same broker: refused, or allowed nothing of Comet's. */
  others: Account[];
  comet: Comet;
  /** Two more instances with mqtt.routing: on and mqtt.forward_api: true, under the same rules. */
  routed: [Comet, Comet];
}

/** Two instances of the instances' account with routing and forward_api, ready. */
async function startRouted(url: string, instance: Account): Promise<[Comet, Comet]> {
  const yaml = `mqtt: {url: "${url}", username: "${instance.username}", password: "${instance.password}", routing: on, forward_api: true}`;
  const pair = await Promise.all([startComet(yaml), startComet(yaml)]);
  await Promise.all(pair.map((c) => waitReadyz(c, 200, 15_000)));
  return pair as [Comet, Comet];
}

const clients: MqttClient[] = [];

/** An MQTT client (3.1.1, as the bridge); a refusal that ends its connection is what tests wait for. */
async function client(s: Setup, who: Partial<Account>, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = await connectAsync(s.url, {
    reconnectPeriod: 0,
    connectTimeout: 5000,
    protocolVersion: 4,
    ...who,
    ...opts,
  });
  c.on("error", () => {});
  clients.push(c);
  return c;
}

/** An instance's client id, as the bridge makes one (src/bridge/wire/link.ts): RabbitMQ's queue permissions expect it. */
const instanceClientId = () => `comet-${randomBytes(8).toString("hex")}`;

/** Resolves true when the connection is (or gets) closed, false while it stays up for ms. */
function closesWithin(c: MqttClient, ms: number): Promise<boolean> {
  if (!c.connected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    c.once("close", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** "refused" (a failure code or a closed connection) or "granted". */
async function trySubscribe(c: MqttClient, topic: string): Promise<"refused" | "granted"> {
  if (!c.connected) return "refused";
  const closed = closesWithin(c, 10_000).then(() => "closed" as const);
  const answer = c.subscribeAsync(topic).then(
    (granted) => (granted.some((g) => g.qos === 128) ? ("failure" as const) : ("granted" as const)),
    () => "failure" as const,
  );
  return (await Promise.race([answer, closed])) === "granted" ? "granted" : "refused";
}

/**
 * A PUBLISH the broker may refuse, at QoS 1 so that its answer orders it before what follows:
 * Mosquitto acknowledges a refused one (MQTT 3.1.1 has no refusal), RabbitMQ closes the connection.
 */
async function publishMaybeRefused(c: MqttClient, topic: string, payload: string): Promise<void> {
  const closed = closesWithin(c, 10_000);
  await Promise.race([c.publishAsync(topic, payload, { qos: 1 }), closed]);
}

/** An instance account's client reading topics, its client id an instance's. */
function instanceObserver(s: Setup, topics: string[]): Promise<Observer> {
  return Observer.connect(s.url, topics, { ...s.instance, clientId: instanceClientId(), protocolVersion: 4 });
}

/**
 * An instance sends Events (on the events topic and below it), then a marker on the activity
 * topic, each acknowledged (QoS 1) so routed before the next; resolves to the marker.
 */
async function instanceSends(s: Setup): Promise<string> {
  const marker = JSON.stringify({
    type: "HEARD",
    uid: `marker-${randomBytes(4).toString("hex")}`,
    rid: "",
    time: "1",
    server: "test",
  });
  const sender = await client(s, s.instance, { clientId: instanceClientId() });
  await sender.publishAsync(EVENTS, JSON.stringify({ uid: "nobody-here", evt: "secret" }), { qos: 1 });
  await sender.publishAsync(`${EVENTS}/billing`, JSON.stringify({ uid: "nobody-here", evt: "secret" }), { qos: 1 });
  await sender.publishAsync(ACTIVITY, marker, { qos: 1 });
  await sender.endAsync();
  return marker;
}

/**
 * Asserts that c, subscribed to the activity topic and maybe to more, gets no Event: once it has
 * the marker that followed them (the same sender, so in order), nothing of the Events may have come.
 */
async function readsNoEvents(s: Setup, c: MqttClient, got: string[]): Promise<void> {
  const marker = await instanceSends(s);
  if (c.connected)
    await waitFor(() => got.includes(marker) || !c.connected, "the marker on the activity topic", 10_000);
  expect(got.filter((m) => m.includes("secret"))).toEqual([]);
}

/** The user's pushes so far, n of them; a session closed meanwhile fails with its close code. */
async function stillPushed(user: Client, n: number): Promise<string[]> {
  try {
    return await user.waitPushes(n, 5000);
  } catch (err) {
    throw new Error(`${(err as Error).message}; the session was closed: ${JSON.stringify(user.closeInfo ?? "no")}`);
  }
}

/** The tests every broker must pass; get() is the setup its beforeAll made. */
function brokerTests(kind: string, get: () => Setup) {
  test(`${kind}: the instance gets in and is ready; a backend's Event reaches a WebSocket user; the backend reads the instance's activity`, async () => {
    const s = get();
    expect((await waitReadyz(s.comet, 200)).status).toBe("ready");
    const activity = await Observer.connect(s.url, [ACTIVITY], { ...s.backend, protocolVersion: 4 });
    const below = await instanceObserver(s, [`${EVENTS}/#`]);
    const user = await connect(s.comet, `${kind}-ann`);
    await activity.until(
      () => activity.activity(`${kind}-ann`, s.comet.bridge!.id).some((a) => a.type === "ONLINE"),
      "the instance's ONLINE, read by the backend",
    );

    const backend = await client(s, s.backend);
    await backend.publishAsync(EVENTS, JSON.stringify({ uid: `${kind}-ann`, evt: "paid" }), { qos: 1 });
    expect(await user.waitPushes(1)).toEqual(["paid"]);
    // comet publish --mqtt with the backend's account (its client id is comet-cli-...).
    await sendEvent(s.url, EVENTS, { uid: `${kind}-ann`, evt: "shipped" }, { ...s.backend, qos: 1 });
    expect(await user.waitPushes(2)).toEqual(["paid", "shipped"]);
    // Below the events topic: the backend may publish there, an instance's account may read it.
    await backend.publishAsync(`${EVENTS}/billing`, JSON.stringify({ evt: "below" }), { qos: 1 });
    await below.until(
      () => below.messages.some((m) => m.topic === `${EVENTS}/billing`),
      "the Event below the events topic",
    );
    expect(backend.connected).toBe(true);
    user.close();
    await Promise.all([activity.close(), below.close()]);
  });

  test(`${kind}: a backend cannot publish activity: its forged ONLINE, sent or left as its will, never closes the user's session`, async () => {
    const s = get();
    const uid = `${kind}-vic`;
    const watcher = await instanceObserver(s, [ACTIVITY]);
    const victim: Client = await connect(s.comet, uid);
    const replaced = await metric(s.comet, "comet_bridge_activity_in_total", { outcome: "replaced" });

    const forger = await client(s, s.backend);
    await publishMaybeRefused(forger, ACTIVITY, forgedOnline(uid));
    // Had the broker taken it, the instance would have closed the session 4409 before this Event.
    await sendEvent(s.url, EVENTS, { uid, evt: "still here" }, { ...s.backend, qos: 1 });
    expect(await stillPushed(victim, 1)).toEqual(["still here"]);

    // The same ONLINE as a last will, left by a connection that dies without DISCONNECT.
    const will = { topic: ACTIVITY, payload: Buffer.from(forgedOnline(uid)), qos: 0 as const, retain: false };
    const willing = await client(s, s.backend, { will }).catch(() => undefined);
    if (willing) {
      const gone = closesWithin(willing, 5000);
      willing.stream.destroy();
      await gone;
      await Bun.sleep(300);
    }
    await sendEvent(s.url, EVENTS, { uid, evt: "still here after the will" }, { ...s.backend, qos: 1 });
    expect(await stillPushed(victim, 2)).toEqual(["still here", "still here after the will"]);

    expect(victim.closeInfo).toBeUndefined();
    expect(s.comet.hub.sessions.has(uid)).toBe(true);
    expect(await metric(s.comet, "comet_bridge_activity_in_total", { outcome: "replaced" })).toBe(replaced);
    expect(watcher.messages.filter((m) => m.text.includes("forger"))).toEqual([]);

    // The instances' account may: the same ONLINE from it closes the session, so the check above could fail.
    const instance = await client(s, s.instance, { clientId: instanceClientId() });
    await instance.publishAsync(ACTIVITY, forgedOnline(uid), { qos: 1 });
    expect((await victim.waitClose(5000)).code).toBe(4409);
    await watcher.close();
  });

  test(`${kind}: routing and forward_api work under these rules; a backend cannot touch comet/servers`, async () => {
    const s = get();
    const [a, b] = s.routed;
    const uid = `${kind}-routed`;
    const user = await connect(b, uid);
    await waitFor(async () => (await metric(b, "comet_bridge_routes_pending")) === 0, "the routed subscription");
    expect(await metric(b, "comet_bridge_routes_refused_total")).toBe(0);
    const backend = await client(s, s.backend);
    const topic = new RoutedTopics(EVENTS).user(uid) as string;
    await backend.publishAsync(topic, JSON.stringify({ uid, evt: "routed" }), { qos: 1 });
    expect(await user.waitPushes(1, 5000)).toEqual(["routed"]);
    // The API of one instance reaches the other's user, and its DumpSession answers for both.
    expect((await api(a, "Publish", { uid, evt: "forwarded" })).status).toBe(200);
    expect(await user.waitPushes(2, 5000)).toEqual(["routed", "forwarded"]);
    await waitFor(
      async () => ((await api(a, "DumpSession", {})).json.world as Array<{ uid: string }>).some((x) => x.uid === uid),
      "the other instance in the DumpSession",
      10_000,
    );
    // A forged status would make every DumpSession wait for, and name, an instance that is not there.
    const status = (type: string) => JSON.stringify({ type, server: "forged", time: `${Date.now()}000000` });
    const forger = await client(s, s.backend);
    await publishMaybeRefused(forger, "comet/servers/forged", status("online"));
    await Bun.sleep(300);
    const dump = (await api(a, "DumpSession", {})).json as { unanswered?: string[] };
    expect(dump.unanswered).toBeUndefined();
    // The instances' account may: the same status from it is believed, so the check above could fail.
    const instance = await client(s, s.instance, { clientId: instanceClientId() });
    await instance.publishAsync("comet/servers/forged", status("online"), { qos: 1 });
    await waitFor(
      async () => ((await api(a, "DumpSession", {})).json as { unanswered?: string[] }).unanswered?.[0] === "forged",
      "the instance account's status to count",
      10_000,
    );
    await instance.publishAsync("comet/servers/forged", status("offline"), { qos: 1 });
    user.close();
  }, 30_000);

  test(`${kind}: a revocation made on one instance reaches the others under these rules; a backend cannot publish one`, async () => {
    const s = get();
    const [a] = s.routed;
    const uid = `${kind}-revoked`;
    const listed = async (c: Comet) =>
      ((await api(c, "Revocations", {})).json.revocations as Array<{ uid: string }>).map((r) => r.uid);
    // s.comet has no forward_api: the revocation reaches a as the retained message alone.
    expect((await api(s.comet, "Disconnect", { uid, revoke: true })).status).toBe(200);
    await waitFor(async () => (await listed(a)).includes(uid), "the revocation on the other instance", 10_000);
    const forger = await client(s, s.backend);
    const now = Date.now();
    const forged = JSON.stringify({ uid: `${kind}-victim`, at: now, expires: now + 60_000 });
    await publishMaybeRefused(forger, `io.goeasy/revoked/${kind}-victim`, forged);
    await instanceSends(s);
    await Bun.sleep(300);
    expect(await listed(a)).not.toContain(`${kind}-victim`);
  }, 30_000);

  test(`${kind}: the instance keeps its retained status on comet/servers/<id>; a backend reads presence, and cannot forge a status`, async () => {
    const s = get();
    const id = s.comet.bridge!.id;
    // Exact topics: RabbitMQ delivers a retained message to a subscription that names its topic only.
    const statuses = await instanceObserver(s, [`comet/servers/${id}`, "comet/servers/ghost"]);
    await statuses.until(
      () => statuses.messages.some((m) => m.topic === `comet/servers/${id}` && m.text.includes('"online"')),
      "the instance's retained online",
    );
    const presence = await Observer.connect(s.url, ["comet/presence"], { ...s.backend, protocolVersion: 4 });
    const user = await connect(s.comet, `${kind}-pre`);
    user.close();
    await presence.until(
      () => presence.messages.filter((m) => m.text.includes(`"${kind}-pre"`)).length === 2,
      "the ONLINE and OFFLINE transitions, read by the backend",
    );
    const live = await metric(s.comet, "comet_cluster_servers");
    const forger = await client(s, s.backend);
    const ghost = JSON.stringify({ type: "online", server: "ghost", time: "1" });
    await publishMaybeRefused(forger, "comet/servers/ghost", ghost);
    await instanceSends(s);
    await Bun.sleep(300);
    expect(statuses.messages.filter((m) => m.topic === "comet/servers/ghost")).toEqual([]);
    expect(await metric(s.comet, "comet_cluster_servers")).toBe(live);
    await Promise.all([statuses.close(), presence.close()]);
  });

  test(`${kind}: a backend cannot read Events: its subscriptions to the events topics are refused or deliver nothing`, async () => {
    const s = get();
    for (const topic of [EVENTS, `${EVENTS}/#`, "comet/#", "#", "+/events"]) {
      const got: string[] = [];
      const backend = await client(s, s.backend);
      backend.on("message", (_t, payload) => got.push(payload.toString()));
      expect(await trySubscribe(backend, ACTIVITY)).toBe("granted");
      await trySubscribe(backend, topic);
      await readsNoEvents(s, backend, got);
    }
  });

  test(`${kind}: unknown users, wrong passwords and anonymous clients are refused; another application's account gets nothing of Comet's`, async () => {
    const s = get();
    for (const who of [
      { username: "nobody", password: "nobody-secret-0123456789" },
      { username: s.backend.username, password: "a-wrong-password-0123456789" },
      { username: s.backend.username, password: s.instance.password },
      { username: s.instance.username, password: s.backend.password },
      {},
    ]) {
      await expect(client(s, who), who.username ?? "anonymous").rejects.toThrow();
    }

    const user = await connect(s.comet, `${kind}-cat`);
    for (const other of s.others) {
      const c = await client(s, other).catch(() => undefined);
      if (!c) continue;
      const got: string[] = [];
      c.on("message", (_t, payload) => got.push(payload.toString()));
      await publishMaybeRefused(c, EVENTS, JSON.stringify({ uid: `${kind}-cat`, evt: "from another application" }));
      await publishMaybeRefused(c, ACTIVITY, forgedOnline(`${kind}-cat`));
      // Refused, or granted where Comet's messages never come (RabbitMQ: another virtual host).
      for (const topic of [EVENTS, ACTIVITY, "#"]) await trySubscribe(c, topic);
      await instanceSends(s);
      await Bun.sleep(300);
      expect(got).toEqual([]);
    }
    await sendEvent(s.url, EVENTS, { uid: `${kind}-cat`, evt: "from billing" }, { ...s.backend, qos: 1 });
    expect(await stillPushed(user, 1)).toEqual(["from billing"]);
    expect(user.closeInfo).toBeUndefined();
    user.close();
  });
}

afterAll(async () => {
  await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
});

// The node takes 15-20 s to start: it starts now, while the Mosquitto tests run.
let rabbitStarting: Promise<TestRabbit> | undefined;
beforeAll(() => {
  rabbitStarting = TestRabbit.start({ conf: readFileSync(RABBITMQ_CONF, "utf8") });
  rabbitStarting.catch(() => {});
});

afterAll(async () => {
  const rabbit = await rabbitStarting?.catch(() => undefined);
  await rabbit?.stop();
}, 120_000);

test("docs/operations.md shows each tested broker file as it is", () => {
  const doc = readFileSync(join(ROOT, "docs", "operations.md"), "utf8");
  for (const file of [MOSQUITTO_ACL, RABBITMQ_CONF, RABBITMQ_SETUP]) {
    expect(doc.includes(readFileSync(file, "utf8")), file).toBe(true);
  }
});

describe("Mosquitto with docs/brokers/mosquitto.acl", () => {
  let broker: TestBroker | undefined;
  let setup: Setup;
  let dir: string | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "comet-acl-"));
    // The password file as the doc makes it (-b: the password on the command line, for a test only).
    const mosquittoPasswd = Bun.which("mosquitto_passwd", { PATH: `${process.env.PATH ?? ""}:/usr/bin:/usr/sbin` });
    if (!mosquittoPasswd) throw new Error("no mosquitto_passwd: install mosquitto (.ci/run does)");
    const passwd = join(dir, "passwd");
    for (const [i, [user, password]] of [
      ["comet", INSTANCES_PASSWORD],
      ["billing", BILLING_PASSWORD],
      ["other", OTHER_PASSWORD],
    ].entries()) {
      const args = i === 0 ? ["-c", "-b", passwd, user, password] : ["-b", passwd, user, password];
      const r = Bun.spawnSync([mosquittoPasswd, ...(args as string[])]);
      if (r.exitCode !== 0) throw new Error(`mosquitto_passwd failed: ${r.stderr.toString()}`);
    }
    broker = await TestBroker.start({ anonymous: false, aclFile: MOSQUITTO_ACL, passwordFile: passwd });
    const instance = { username: "comet", password: INSTANCES_PASSWORD };
    const comet = await startComet(
      `mqtt: {url: "${broker.url}", username: ${instance.username}, password: "${instance.password}"}`,
    );
    setup = {
      url: broker.url,
      instance,
      backend: { username: "billing", password: BILLING_PASSWORD },
      others: [{ username: "other", password: OTHER_PASSWORD }],
      comet,
      routed: await startRouted(broker.url, instance),
    };
    await waitReadyz(comet, 200);
  });

  afterAll(async () => {
    await Promise.all((setup?.routed ?? []).map((c) => c.stop()));
    await setup?.comet.stop();
    await broker?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  brokerTests("mosquitto", () => setup);
});

describe("RabbitMQ with docs/brokers/rabbitmq.conf and rabbitmq-comet.sh", () => {
  let setup: Setup;

  beforeAll(
    async () => {
      const rabbit = await (rabbitStarting as Promise<TestRabbit>);
      await rabbit.run(["sh", RABBITMQ_SETUP], { INSTANCES_PASSWORD, BILLING_PASSWORD });
      // Another application's account, with every right in another virtual host.
      await rabbit.run(["rabbitmqctl", "add_user", "other", OTHER_PASSWORD]);
      await rabbit.run(["rabbitmqctl", "set_permissions", "-p", "/", "other", ".*", ".*", ".*"]);
      const instance = { username: "comet:comet", password: INSTANCES_PASSWORD };
      const comet = await startComet(
        `mqtt: {url: "${rabbit.url}", username: "${instance.username}", password: "${instance.password}"}`,
      );
      setup = {
        url: rabbit.url,
        instance,
        backend: { username: "comet:billing", password: BILLING_PASSWORD },
        others: [
          { username: "comet:other", password: OTHER_PASSWORD },
          { username: "other", password: OTHER_PASSWORD },
        ],
        comet,
        routed: await startRouted(rabbit.url, instance),
      };
      await waitReadyz(comet, 200, 15_000);
    },
    { timeout: 180_000 },
  );

  afterAll(async () => {
    await Promise.all((setup?.routed ?? []).map((c) => c.stop()));
    await setup?.comet.stop();
  });

  brokerTests("rabbitmq", () => setup);

  test("rabbitmq: a backend cannot take an instance's queue: with a client id of comet-... its subscription is refused", async () => {
    const backend = await client(setup, setup.backend, { clientId: instanceClientId() });
    expect(await trySubscribe(backend, ACTIVITY)).toBe("refused");
    const own = await client(setup, setup.backend, { clientId: `billing-${randomBytes(4).toString("hex")}` });
    expect(await trySubscribe(own, ACTIVITY)).toBe("granted");
  });
});
