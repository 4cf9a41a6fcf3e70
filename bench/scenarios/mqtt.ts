/**
 * mqtt-ingest: Events published to a real Mosquitto on comet/events ({"uid", "evt"}, QoS 0), each
 * to one of N connected users; events per second delivered through the server's MQTT bridge, and
 * server CPU per event. The floor (bench/floor-server.ts --mqtt) subscribes through mqtt.js and
 * sends each event to one socket. Each target gets a broker of its own, on the generators' core.
 * Comet runs only when it knows `mqtt.url`: a build without the bridge refuses the key at start,
 * and the scenario reports itself skipped.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Ctx, Gens, type Result, round, sleep, waitFor } from "../lib/harness.ts";
import { freePort, GEN_CPU, spawnPinned, stopProcess } from "../lib/procs.ts";
import { HOST, Refused, type Target } from "../lib/targets.ts";
import { awaitDeliveries, EVT_BYTES, perSecond, startTarget, subscribedGens } from "./common.ts";

export const MOSQUITTO = process.env.MOSQUITTO ?? "/usr/sbin/mosquitto";
export const SKIPPED_NO_BRIDGE = "skipped: bridge not in this build";

export interface MqttParams {
  clients: number;
  events: number;
}

async function portOpen(port: number): Promise<boolean> {
  try {
    const s = await Bun.connect({ hostname: HOST, port, socket: { data() {} } });
    s.end();
    return true;
  } catch {
    return false;
  }
}

export async function mqttScenario(ctx: Ctx, kind: "comet" | "floor", p: MqttParams): Promise<Result> {
  const base: Omit<Result, "metrics"> = {
    scenario: "mqtt-ingest",
    target: kind,
    params: { clients: p.clients, events: p.events, evt_bytes: EVT_BYTES },
  };
  if (!existsSync(MOSQUITTO)) return { ...base, metrics: {}, skipped: `skipped: no broker at ${MOSQUITTO}` };
  const dir = mkdtempSync(join(tmpdir(), "comet-bench-mqtt-"));
  const port = freePort();
  writeFileSync(join(dir, "mosquitto.conf"), `listener ${port} ${HOST}\nallow_anonymous true\n`);
  const broker = spawnPinned(GEN_CPU, [MOSQUITTO, "-c", join(dir, "mosquitto.conf")], ctx.maxSeconds, {
    stderr: "pipe",
  });
  let target: Target | undefined;
  let gens: Gens | undefined;
  let pub: Gens | undefined;
  try {
    await waitFor("mosquitto listening", 10_000, () => portOpen(port), 50);
    try {
      target = await startTarget(ctx, kind, { mqttUrl: `mqtt://${HOST}:${port}` });
    } catch (e) {
      if (e instanceof Refused && /mqtt/.test(e.message)) return { ...base, metrics: {}, skipped: SKIPPED_NO_BRIDGE };
      throw e;
    }
    const t = target;
    await waitFor("/readyz", 15_000, async () => (await fetch(`http://${HOST}:${t.port}/readyz`)).ok, 50);
    const n = p.clients;
    gens = await subscribedGens(ctx, t, n, "", "mqtt-ingest");
    pub = await Gens.start(ctx, 1, "pub");
    const mq = { host: HOST, port, topic: "comet/events", rate: 0, users: n, evtBytes: EVT_BYTES };

    // Warm-up, and proof that the server has subscribed: events until some arrive.
    await gens.call("reset", { seqs: 0 });
    await waitFor("the server delivering events", 15_000, async () => {
      await pub?.call("mqtt", { ...mq, count: 100 });
      await sleep(100);
      return ((await gens?.received()) ?? 0) > 0;
    });
    await sleep(500);

    await gens.call("reset", { seqs: 0 });
    const cpu0 = t.cpuS();
    const sys0 = t.sysS();
    const [pr] = await pub.call<{ sent: number; t0_us: number; t1_us: number }>(
      "mqtt",
      { ...mq, count: p.events },
      180_000,
    );
    const got = await awaitDeliveries(gens, p.events);
    const cpu1 = t.cpuS();
    const sys1 = t.sysS();
    const s = await gens.stats();
    const lat = s.hist.summary();
    const t0 = pr?.t0_us ?? 0;
    return {
      ...base,
      metrics: {
        events_per_s: perSecond(got, t0, s.lastUs),
        published_per_s: perSecond(pr?.sent ?? 0, t0, pr?.t1_us ?? 0),
        lost: p.events - got,
        server_cpu_us_per_event: round(((cpu1 - cpu0) * 1e6) / Math.max(1, got), 1),
        events_per_cpu_s: cpu1 > cpu0 ? Math.round(got / (cpu1 - cpu0)) : 0,
        server_sys_pct: cpu1 > cpu0 ? Math.round(((sys1 - sys0) / (cpu1 - cpu0)) * 100) : 0,
        p50_ms: lat.p50_ms,
        p99_ms: lat.p99_ms,
        max_ms: lat.max_ms,
      },
    };
  } finally {
    await pub?.stop();
    await gens?.stop();
    await target?.stop();
    await stopProcess(broker);
    rmSync(dir, { recursive: true, force: true });
  }
}
