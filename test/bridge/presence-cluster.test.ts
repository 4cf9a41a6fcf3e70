/**
 * Presence across three `comet serve` processes on one real Mosquitto, with a real HTTP receiver
 * for the webhooks: flaps within the grace make no transition; away past it, one OFFLINE; kill -9
 * of an instance yields exactly one OFFLINE per user who did not come back, from one survivor.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { verifyWebhook } from "../../src/webhooks/signature.ts";
import { logLines, type Serving, serveProcess } from "../cli/serving.ts";
import { ADMIN, Client, SECRET, token } from "../helpers.ts";
import { Receiver } from "../webhooks/receiver.ts";
import { TestBroker } from "./broker.ts";
import { Observer, waitFor } from "./util.ts";

const GRACE_MS = 2000;
const HOOK_SECRET = "cluster-webhook-secret-0123";
let broker: TestBroker;
let receiver: Receiver;
let obs: Observer;
const instances: Serving[] = [];
const ids: string[] = [];

interface Transition {
  type: string;
  uid: string;
  rid: string;
  server: string;
  time: string;
  since: string;
}

async function startInstance(): Promise<[Serving, string]> {
  const s = await serveProcess(["--listen", "127.0.0.1:0"], {
    COMET_MQTT_URL: broker.url,
    COMET_AUTH_JWT_HS256_SECRET: SECRET,
    COMET_ADMIN_TOKENS: ADMIN,
    COMET_PRESENCE_OFFLINE_GRACE: `${GRACE_MS}ms`,
    COMET_WEBHOOKS: JSON.stringify([
      { url: receiver.url, events: ["presence.ONLINE", "presence.OFFLINE"], secret: HOOK_SECRET },
    ]),
  });
  instances.push(s);
  const id = logLines(s).find((l) => l.msg === "mqtt bridge starting")?.server as string;
  return [s, id];
}

const transitions = (uid?: string): Transition[] =>
  obs.messages
    .filter((m) => m.topic === "comet/presence")
    .map((m) => JSON.parse(m.text) as Transition)
    .filter((t) => uid === undefined || t.uid === uid);
const hooks = (uid?: string) => receiver.events().filter((e) => uid === undefined || e.uid === uid);

async function presence(s: Serving, uids: string[]): Promise<string[]> {
  const res = await fetch(`${s.url}/comet/Comet/Presence`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}` },
    body: JSON.stringify({ uids }),
  });
  if (res.status !== 200) throw new Error(`Presence answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { online: Array<{ uid: string }> }).online.map((o) => o.uid);
}

/** Clients that sent AUTH, once the instance's view holds them all. */
async function login(s: Serving, uids: string[]): Promise<Client[]> {
  const clients = await Promise.all(
    uids.map(async (uid) => {
      const c = new Client(s.ws);
      await c.opened;
      c.send({ t: "AUTH", auth: { token: await token(uid) } });
      return c;
    }),
  );
  await waitFor(async () => (await presence(s, uids)).length === uids.length, `${uids.length} sessions on ${s.url}`);
  return clients;
}

async function away(...cs: Client[]): Promise<void> {
  for (const c of cs) c.close();
  await Promise.all(cs.map((c) => c.closed));
}

beforeAll(async () => {
  broker = await TestBroker.start();
  receiver = new Receiver();
  obs = await Observer.connect(broker.url, ["comet/presence"]);
  for (let i = 0; i < 3; i++) ids.push((await startInstance())[1]);
  // Every instance knows the other two before the tests begin.
  await waitFor(
    () => instances.every((s) => logLines(s).filter((l) => l.msg === "cluster: server joined").length >= 2),
    "three instances that know each other",
    10_000,
  );
}, 60_000);

afterAll(async () => {
  for (const s of instances) s.proc.kill("SIGKILL");
  await obs?.close();
  receiver?.stop();
  await broker?.stop();
});

test("a user flapping within the grace, on the same and on other instances, makes no transition and no webhook; away past it, exactly one OFFLINE and one signed webhook", async () => {
  const [a, b, c] = instances as [Serving, Serving, Serving];
  let [cl] = await login(a, ["flapper"]);
  await obs.until(() => transitions("flapper").length === 1, "flapper's ONLINE");
  for (const next of [a, b, c, a]) {
    await away(cl!);
    await Bun.sleep(200);
    [cl] = await login(next, ["flapper"]);
  }
  await Bun.sleep(GRACE_MS + 500);
  expect(transitions("flapper").map((t) => t.type)).toEqual(["ONLINE"]);
  await waitFor(() => hooks("flapper").length === 1, "flapper's ONLINE webhook");
  const online = transitions("flapper")[0]!;
  expect(online.server).toBe(ids[0]!);
  expect(online.since).toBe(online.time);
  for (const s of instances) expect(await presence(s, ["flapper"])).toEqual(["flapper"]);

  await away(cl!);
  const gone = Date.now();
  await obs.until(() => transitions("flapper").length === 2, "flapper's OFFLINE", GRACE_MS + 5000);
  expect(Date.now() - gone).toBeGreaterThanOrEqual(GRACE_MS - 100);
  const offline = transitions("flapper")[1]!;
  expect(offline).toMatchObject({ type: "OFFLINE", uid: "flapper", since: online.since, server: ids[0]! });
  await waitFor(() => hooks("flapper").length === 2, "flapper's OFFLINE webhook");
  await Bun.sleep(500);
  expect(transitions("flapper")).toHaveLength(2);
  expect(hooks("flapper").map((e) => `${e.kind} ${e.type}`)).toEqual(["presence ONLINE", "presence OFFLINE"]);
  for (const p of receiver.acknowledged()) expect(verifyWebhook(HOOK_SECRET, p.body, p.signature)).toBe(true);
}, 30_000);

test("a login on another instance replaces the session (4409) with no presence transition", async () => {
  const [a, b] = instances as [Serving, Serving];
  const [first] = await login(a, ["mover"]);
  await obs.until(() => transitions("mover").length === 1, "mover's ONLINE");
  const [second] = await login(b, ["mover"]);
  expect((await first!.waitClose(5000)).code).toBe(4409);
  await Bun.sleep(GRACE_MS + 500);
  expect(transitions("mover").map((t) => t.type)).toEqual(["ONLINE"]);
  for (const s of instances.slice(0, 3)) expect(await presence(s, ["mover"])).toEqual(["mover"]);
  await away(second!);
}, 30_000);

test("kill -9 of an instance with 100 users, 10 of whom come back elsewhere within the grace: exactly 90 OFFLINE, one per user who stayed away, from one survivor; the survivors' Presence drops them", async () => {
  const [a, b, c] = instances as [Serving, Serving, Serving];
  const uids = Array.from({ length: 100 }, (_, i) => `k${String(i).padStart(3, "0")}`);
  const back = uids.slice(0, 10);
  const stayed = uids.slice(10);
  const onC = await login(c, uids);
  await obs.until(() => uids.every((u) => transitions(u).length === 1), "100 ONLINE");
  for (const s of [a, b]) {
    await waitFor(async () => (await presence(s, uids)).length === 100, "the survivors to see the 100");
  }
  c.proc.kill("SIGKILL");
  await Promise.all(onC.map((cl) => cl.closed));
  const returned = await login(a, back);
  // The will has dropped C's sessions from the survivors' views, well before the grace ends.
  for (const s of [a, b]) {
    await waitFor(async () => (await presence(s, uids)).join() === back.join(), "C's users dropped", GRACE_MS / 2);
  }
  await obs.until(() => stayed.every((u) => transitions(u).length === 2), "90 OFFLINE", GRACE_MS + 5000);
  await Bun.sleep(1000);
  const offline = transitions().filter((t) => t.type === "OFFLINE" && uids.includes(t.uid));
  expect(offline.map((t) => t.uid).sort()).toEqual(stayed);
  // The smallest live server id emits, and only it.
  const survivor = [ids[0]!, ids[1]!].sort()[0] as string;
  expect(new Set(offline.map((t) => t.server))).toEqual(new Set([survivor]));
  for (const t of offline) expect(t.since).toBe(transitions(t.uid)[0]!.since);
  for (const u of back) expect(transitions(u).map((t) => t.type)).toEqual(["ONLINE"]);
  await waitFor(
    () => hooks().filter((e) => e.type === "OFFLINE" && uids.includes(e.uid as string)).length === 90,
    "90 webhooks",
  );
  for (const s of [a, b]) expect(await presence(s, uids)).toEqual(back);
  await away(...returned);
}, 40_000);

test("an instance that joins learns who is online within 2 s", async () => {
  const [a, b] = instances as [Serving, Serving];
  const held = [...(await login(a, ["j-1", "j-2"])), ...(await login(b, ["j-3"]))];
  const [late] = await startInstance();
  const started = Date.now();
  await waitFor(async () => (await presence(late, ["j-1", "j-2", "j-3"])).length === 3, "the late one's view", 2000);
  expect(Date.now() - started).toBeLessThanOrEqual(2000);
  await away(...held);
}, 30_000);
