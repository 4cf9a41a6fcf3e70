/** `comet publish|broadcast --mqtt URL`: one shell command reaches every instance on a real broker. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, TestBroker } from "../bridge/broker.ts";
import { type Comet, startComet, waitReadyz } from "../bridge/util.ts";
import { connect } from "../helpers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, run } from "./run.ts";

let broker: TestBroker;
let a: Comet;
let b: Comet;

beforeAll(async () => {
  broker = await TestBroker.start();
  const yaml = `mqtt: {url: "mqtt://127.0.0.1:${broker.port}"}`;
  a = await startComet(yaml);
  b = await startComet(yaml);
  await waitReadyz(a, 200);
  await waitReadyz(b, 200);
});

afterAll(async () => {
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
