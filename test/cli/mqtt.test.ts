/** `comet publish|broadcast --mqtt URL`: one shell command reaches every instance on a real broker. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, TestBroker } from "../bridge/broker.ts";
import { type Comet, metric, Observer, startComet, waitFor, waitReadyz } from "../bridge/util.ts";
import { connect } from "../helpers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, run } from "./run.ts";

let broker: TestBroker;
let a: Comet;
let b: Comet;
/** mqtt.routing: on, on events topic cli-routed/events. */
let routed: Comet;
let obs: Observer;
const ROUTED_YAML = (port: number) =>
  `mqtt: {url: "mqtt://127.0.0.1:${port}", events_topic: cli-routed/events, activity_topic: cli-routed/activity, routing: on}\n`;
let routedConfig: string;

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "mqtt://127.0.0.1:${broker.port}"}`;
  a = await startComet(yaml);
  b = await startComet(yaml);
  routed = await startComet(ROUTED_YAML(broker.port));
  await waitReadyz(a, 200);
  await waitReadyz(b, 200);
  await waitReadyz(routed, 200);
  routedConfig = join(tmpdir(), `comet-cli-routed-${process.pid}.yaml`);
  writeFileSync(routedConfig, ROUTED_YAML(broker.port));
  obs = await Observer.connect(broker.url, ["cli-routed/events/#", "cli-routed/events"]);
});

afterAll(async () => {
  if (routedConfig) rmSync(routedConfig, { force: true });
  await obs?.close();
  await routed?.stop();
  await a?.stop();
  await b?.stop();
  await broker?.stop();
});

let n = 0;
for (const cli of CLIS) {
  describe(`--mqtt (${cli.name})`, () => {
    beforeAll(() => cli.prepare(), BUILD_TIMEOUT_MS);

    test("publish --mqtt reaches a user on either instance", async () => {
      const uid = `mq-user-${++n}`;
      const c = await connect(b, uid);
      const r = await run(cli, [
        "publish",
        "--uid",
        uid,
        "--evt",
        "through the broker",
        "--mqtt",
        `mqtt://127.0.0.1:${broker.port}`,
      ]);
      expect(r).toMatchObject({ code: 0, stderr: "" });
      expect(await c.waitPushes(1, 5000)).toEqual(["through the broker"]);
      c.close();
    });

    test("broadcast --mqtt reaches a room spread over both instances, and the world", async () => {
      const rid = `mq-room-${++n}`;
      const onA = await connect(a, `${rid}-a`, { rid });
      const onB = await connect(b, `${rid}-b`, { rid });
      const url = `mqtt://127.0.0.1:${broker.port}`;
      expect((await run(cli, ["broadcast", "--rid", rid, "--evt", "room", "--mqtt", url])).code).toBe(0);
      expect((await run(cli, ["broadcast", "--evt", "world", "--mqtt", url, "--qos", "1"])).code).toBe(0);
      for (const c of [onA, onB]) {
        await c.until(() => c.pushes().includes("world"), 5000, "the world broadcast");
        expect(c.pushes().slice(0, 2)).toEqual(["room", "world"]);
        c.close();
      }
    });

    test("with the serve config's routing: on, publish and broadcast --mqtt go to the routed topics", async () => {
      const uid = `cli/r+${++n}`;
      const rid = `cli-room#${n}`;
      const user = await connect(routed, uid);
      const member = await connect(routed, `${uid}-m`, { rid });
      await waitFor(async () => (await metric(routed, "comet_bridge_routes_pending")) === 0, "the routes");
      const url = `mqtt://127.0.0.1:${broker.port}`;
      const from = obs.messages.length;
      const env = { COMET_CONFIG: routedConfig };
      expect(await run(cli, ["publish", "--uid", uid, "--evt", "routed", "--mqtt", url], { env })).toMatchObject({
        code: 0,
        stderr: "",
      });
      expect(
        (await run(cli, ["broadcast", "--rid", rid, "--evt", "room", "--mqtt", url, "-c", routedConfig])).code,
      ).toBe(0);
      expect((await run(cli, ["broadcast", "--evt", "world", "--mqtt", url], { env })).code).toBe(0);
      expect(await user.waitPushes(2, 5000)).toEqual(["routed", "world"]);
      expect(await member.waitPushes(2, 5000)).toEqual(["room", "world"]);
      await obs.until(() => obs.messages.length >= from + 3, "the three Events");
      expect(obs.messages.slice(from).map((m) => m.topic)).toEqual([
        `cli-routed/events/u/cli%2Fr%2B${n}`,
        `cli-routed/events/r/cli-room%23${n}`,
        "cli-routed/events/w",
      ]);
      user.close();
      member.close();
    });

    test("--topic and --routing choose without a config; --routing takes on or off only", async () => {
      const url = `mqtt://127.0.0.1:${broker.port}`;
      const from = obs.messages.length;
      const args = ["publish", "--uid", "u1", "--evt", "x", "--mqtt", url, "--topic", "cli-routed/events"];
      expect((await run(cli, [...args, "--routing", "on"])).code).toBe(0);
      expect((await run(cli, [...args, "--routing", "off"])).code).toBe(0);
      // The serve config says on; --routing off wins.
      expect(
        (await run(cli, [...args.slice(0, -2), "--routing", "off"], { env: { COMET_CONFIG: routedConfig } })).code,
      ).toBe(0);
      await obs.until(() => obs.messages.length >= from + 3, "the three Events");
      expect(obs.messages.slice(from).map((m) => m.topic)).toEqual([
        "cli-routed/events/u/u1",
        "cli-routed/events",
        "cli-routed/events",
      ]);
      const bad = await run(cli, [...args, "--routing", "yes"]);
      expect(bad.code).toBe(2);
      expect(oneLine(bad.stderr)).toContain('--routing: expected on or off, got "yes"');
    });

    test("an unreachable broker exits 1 naming it; a bad --qos is a usage error", async () => {
      const port = await freePort();
      const r = await run(cli, ["publish", "--uid", "x", "--evt", "y", "--mqtt", `mqtt://127.0.0.1:${port}`]);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toContain(`127.0.0.1:${port}`);
      const q = await run(cli, ["broadcast", "--evt", "y", "--mqtt", "mqtt://127.0.0.1:1", "--qos", "3"]);
      expect(q.code).toBe(2);
      expect(oneLine(q.stderr)).toContain("--qos");
    });
  });
}
