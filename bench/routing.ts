/**
 * mqtt.routing against the single events topic (issue 19): 4 comet processes on one Mosquitto,
 * 4,000 WebSocket users spread over them (user i on instance i % 4), then unicast Events published
 * to the broker as fast as it takes them, each to one user: on comet/events (routing: off), or on
 * comet/events/u/<uid> (routing: on). Reports unicast Events per second delivered to the users,
 * and the CPU seconds the broker and the four instances spent on them.
 *
 * The instances share CPU 0, the broker, the publisher and the users CPU 1 (taskset), so the figures
 * compare the two layouts on one box; on a shared machine they are indicative only.
 *
 *   npx bun bench/routing.ts [--events 40000] [--users 4000] [--json FILE]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectAsync } from "mqtt";
import { signSubscriberToken } from "../src/auth/mint.ts";
import { RoutedTopics } from "../src/bridge/routing/topics.ts";
import { loadConfig } from "../src/config/load.ts";
import { childPid, cpuSeconds, freePort, GEN_CPU, SERVER_CPU, spawnPinned, stopProcess } from "./lib/procs.ts";

const MOSQUITTO = process.env.MOSQUITTO ?? "/usr/sbin/mosquitto";
const SECRET = "bench-secret-that-is-long-enough-0123456789";
const ADMIN = "bench-admin-token-0123456789";
const INSTANCES = 4;
const MAX_SECONDS = 300;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const EVENTS = arg("events", 40_000);
const USERS = arg("users", 4000);
const jsonAt = process.argv.indexOf("--json");
const JSON_FILE = jsonAt >= 0 ? process.argv[jsonAt + 1] : undefined;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ms: number, pred: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function metric(url: string, series: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

interface Row {
  layout: string;
  events: number;
  seconds: number;
  events_per_s: number;
  broker_cpu_s: number;
  instances_cpu_s: number;
  no_recipient: number;
}

async function runLayout(routing: boolean, brokerUrl: string, brokerPid: number, dir: string): Promise<Row> {
  const procs = [];
  const urls: string[] = [];
  const pids: number[] = [];
  try {
    for (let k = 0; k < INSTANCES; k++) {
      const port = freePort();
      const file = join(dir, `comet-${routing ? "routed" : "single"}-${k}.yaml`);
      writeFileSync(
        file,
        [
          `listen: 127.0.0.1:${port}`,
          `auth: {jwt: {hs256_secret: "${SECRET}"}}`,
          `admin: {tokens: ["${ADMIN}"]}`,
          "log: {level: warn}",
          "limits: {uplink_rate: 0}",
          `mqtt: {url: "${brokerUrl}", activity: [ONLINE], routing: ${routing ? "on" : "off"}}`,
          "",
        ].join("\n"),
      );
      const p = spawnPinned(SERVER_CPU, [process.execPath, "bin/comet.ts", "serve", "--config", file], MAX_SECONDS, {});
      procs.push(p);
      pids.push(await childPid(p));
      urls.push(`http://127.0.0.1:${port}`);
    }
    for (const url of urls) {
      await until(
        `${url} ready`,
        20_000,
        async () => (await fetch(`${url}/readyz`).catch(() => undefined))?.ok === true,
      );
    }
    const cfg = loadConfig({ yaml: `auth: {jwt: {hs256_secret: "${SECRET}"}}` });
    let received = 0;
    const sockets: WebSocket[] = [];
    for (let i = 0; i < USERS; i++) {
      const token = (await signSubscriberToken(cfg, { uid: `u${i}`, ttlMs: 3_600_000 })) as string;
      const ws = new WebSocket(`${(urls[i % INSTANCES] as string).replace("http", "ws")}/comet/Comet/Subscribe`);
      ws.onopen = () => ws.send(JSON.stringify({ t: "AUTH", auth: { token } }));
      ws.onmessage = (e) => {
        if (typeof e.data === "string" && e.data.startsWith('{"t":"PUSH"')) received++;
      };
      sockets.push(ws);
      if (i % 200 === 199) await sleep(20);
    }
    const sessions = async () => {
      let n = 0;
      for (const url of urls) n += await metric(url, "comet_sessions");
      return n;
    };
    await until(`${USERS} sessions`, 60_000, async () => (await sessions()) >= USERS);
    if (routing) {
      for (const url of urls) {
        await until("routes", 30_000, async () => (await metric(url, "comet_bridge_routes_pending")) === 0);
      }
    }
    const pub = await connectAsync(brokerUrl, { reconnectPeriod: 0 });
    const routed = new RoutedTopics("comet/events");
    const payloads = Array.from({ length: EVENTS }, (_, n) => {
      const uid = `u${(n * 7919) % USERS}`;
      return {
        topic: routing ? (routed.user(uid) as string) : "comet/events",
        payload: JSON.stringify({ uid, evt: `e${n}` }),
      };
    });
    const noOneBefore = await Promise.all(
      urls.map((u) => metric(u, 'comet_bridge_events_in_total{outcome="no_recipient"}')),
    );
    const cpu0 = { broker: cpuSeconds(brokerPid), instances: pids.reduce((s, p) => s + cpuSeconds(p), 0) };
    const t0 = performance.now();
    for (let n = 0; n < payloads.length; n++) {
      const m = payloads[n] as { topic: string; payload: string };
      pub.publish(m.topic, m.payload, { qos: 0 });
      // Let the socket drain now and then: mqtt.js would hold everything in memory.
      if (n % 1000 === 999 && (pub.stream?.writableLength ?? 0) > 1 << 20) await sleep(1);
    }
    await until(`${EVENTS} deliveries`, MAX_SECONDS * 500, () => received >= EVENTS);
    const seconds = (performance.now() - t0) / 1000;
    const cpu1 = { broker: cpuSeconds(brokerPid), instances: pids.reduce((s, p) => s + cpuSeconds(p), 0) };
    const noOneAfter = await Promise.all(
      urls.map((u) => metric(u, 'comet_bridge_events_in_total{outcome="no_recipient"}')),
    );
    await pub.endAsync();
    for (const ws of sockets) ws.close();
    return {
      layout: routing ? "routed (routing: on)" : "single topic (routing: off)",
      events: EVENTS,
      seconds: Math.round(seconds * 1000) / 1000,
      events_per_s: Math.round(EVENTS / seconds),
      broker_cpu_s: Math.round((cpu1.broker - cpu0.broker) * 100) / 100,
      instances_cpu_s: Math.round((cpu1.instances - cpu0.instances) * 100) / 100,
      no_recipient: noOneAfter.reduce((s, v, i) => s + v - (noOneBefore[i] as number), 0),
    };
  } finally {
    await Promise.all(procs.map((p) => stopProcess(p)));
  }
}

const dir = mkdtempSync(join(tmpdir(), "comet-bench-routing-"));
mkdirSync(dir, { recursive: true });
const brokerPort = freePort();
writeFileSync(join(dir, "mosquitto.conf"), `listener ${brokerPort} 127.0.0.1\nallow_anonymous true\nlog_dest none\n`);
const broker = spawnPinned(GEN_CPU, [MOSQUITTO, "-c", join(dir, "mosquitto.conf")], MAX_SECONDS * 2, {});
// The bench process (publisher and users) shares the broker's core, away from the instances.
Bun.spawnSync(["taskset", "-a", "-p", "-c", GEN_CPU, String(process.pid)], { stdout: "ignore", stderr: "ignore" });
try {
  const brokerPid = await childPid(broker);
  const brokerUrl = `mqtt://127.0.0.1:${brokerPort}`;
  await sleep(300);
  const rows = [await runLayout(false, brokerUrl, brokerPid, dir), await runLayout(true, brokerUrl, brokerPid, dir)];
  console.log(`\n### mqtt-routing  instances=${INSTANCES} users=${USERS} events=${EVENTS} (unicast, QoS 0)\n`);
  console.log("| layout | events/s delivered | seconds | broker CPU s | instances CPU s | no_recipient |");
  console.log("| --- | ---: | ---: | ---: | ---: | ---: |");
  for (const r of rows) {
    console.log(
      `| ${r.layout} | ${r.events_per_s.toLocaleString("en")} | ${r.seconds} | ${r.broker_cpu_s} | ${r.instances_cpu_s} | ${r.no_recipient.toLocaleString("en")} |`,
    );
  }
  if (JSON_FILE) writeFileSync(JSON_FILE, `${JSON.stringify({ instances: INSTANCES, users: USERS, rows }, null, 2)}\n`);
} finally {
  await stopProcess(broker);
  rmSync(dir, { recursive: true, force: true });
}
