/**
 * Instances know each other through the broker: a retained `online` on comet/servers/<id> and a
 * Last Will of `offline`. Real Mosquitto, two instances in this process and one `comet serve`
 * process that is killed with SIGKILL, as a crash.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { encodeStatus } from "../../src/bridge/cluster/servers.ts";
import { ADMIN, SECRET } from "../helpers.ts";
import { logLines, type Serving, serveProcess } from "../cli/serving.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "./util.ts";

let broker: TestBroker;
let a: Comet;
let b: Comet;
let c: Serving;
let cId: string;
let obs: Observer;
const aLines: string[] = [];

const statuses = (server: string) =>
  obs.messages
    .filter((m) => m.topic === `comet/servers/${server}`)
    .map((m) => (m.text === "" ? { cleared: "yes" } : (JSON.parse(m.text) as Record<string, string>)));
const live = (s: Comet) => metric(s, "comet_cluster_servers");
const waitLive = (s: Comet, n: number, what: string, ms = 2000) =>
  waitFor(async () => (await live(s)) === n, `${what}: ${n} live servers`, ms);

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "${broker.url}"}`;
  [a, b] = await Promise.all([startComet(yaml, aLines), startComet(yaml)]);
  c = await serveProcess(["--listen", "127.0.0.1:0"], {
    COMET_MQTT_URL: broker.url,
    COMET_AUTH_JWT_HS256_SECRET: SECRET,
    COMET_ADMIN_TOKENS: ADMIN,
  });
  await Promise.all([waitReadyz(a, 200), waitReadyz(b, 200)]);
  await waitFor(() => logLines(c).some((l) => l.msg === "mqtt bridge starting"), "C's bridge");
  cId = logLines(c).find((l) => l.msg === "mqtt bridge starting")?.server as string;
  obs = await Observer.connect(broker.url, ["comet/servers/+"]);
});

afterAll(async () => {
  c?.proc.kill("SIGKILL");
  await obs?.close();
  await Promise.all([a?.stop(), b?.stop()]);
  await broker?.stop();
});

test("each instance keeps a retained online on comet/servers/<id>, and every instance counts all three as live", async () => {
  await Promise.all([waitLive(a, 3, "A"), waitLive(b, 3, "B")]);
  for (const id of [a.bridge!.id, b.bridge!.id, cId]) {
    await obs.until(() => statuses(id).length > 0, `the retained status of ${id}`);
    const [s] = statuses(id);
    expect(Object.keys(s!)).toEqual(["type", "server", "time"]);
    expect(s).toMatchObject({ type: "online", server: id });
    expect(s!.time).toMatch(/^[1-9]\d{18}$/);
  }
});

test("kill -9 of an instance: its Last Will says offline with its connection's time, and the others drop it", async () => {
  await waitLive(a, 3, "A");
  const online = statuses(cId).find((s) => s.type === "online") as Record<string, string>;
  c.proc.kill("SIGKILL");
  await obs.until(() => statuses(cId).some((s) => s.type === "offline"), "C's will");
  expect(statuses(cId).at(-1)).toEqual({ type: "offline", server: cId, time: online.time as string });
  await Promise.all([waitLive(a, 2, "A"), waitLive(b, 2, "B")]);
  expect(aLines.some((l) => l.includes('"cluster: server left"') && l.includes(cId))).toBe(true);
});

test("a graceful stop publishes offline in place of the will", async () => {
  const yaml = `mqtt: {url: "${broker.url}"}`;
  const d = await startComet(yaml);
  await waitReadyz(d, 200);
  const id = d.bridge!.id;
  await waitLive(a, 3, "A with D");
  await d.stop();
  await obs.until(() => statuses(id).some((s) => s.type === "offline"), "D's offline");
  await waitLive(a, 2, "A without D");
});

test("an instance that joins learns the live instances within 2 s, and not the dead ones", async () => {
  const late = await startComet(`mqtt: {url: "${broker.url}"}`);
  try {
    await waitLive(late, 3, "the late instance (A, B and itself)", 2000);
    await waitLive(a, 3, "A sees the late one");
  } finally {
    await late.stop();
  }
  await waitLive(a, 2, "A after the late one left");
});

test("a stale offline (an earlier connection's time), a bad payload, or a server id that is not the topic's changes nothing, counted", async () => {
  const bId = b.bridge!.id;
  const stale = await metric(a, "comet_bridge_server_status_in_total", { outcome: "stale" });
  const invalid = await metric(a, "comet_bridge_server_status_in_total", { outcome: "invalid" });
  await obs.publish(`comet/servers/${bId}`, encodeStatus("offline", bId, "1000000000000000000"));
  await obs.publish(`comet/servers/${bId}`, "offline");
  await obs.publish(`comet/servers/${bId}`, encodeStatus("offline", "someone-else", "9999999999999999999"));
  await obs.publish(`comet/servers/${bId}`, JSON.stringify({ type: "gone", server: bId, time: "1" }));
  await waitFor(
    async () => (await metric(a, "comet_bridge_server_status_in_total", { outcome: "invalid" })) === invalid + 3,
    "A to count three invalid statuses",
  );
  expect(await metric(a, "comet_bridge_server_status_in_total", { outcome: "stale" })).toBe(stale + 1);
  expect(await live(a)).toBe(2);
});
