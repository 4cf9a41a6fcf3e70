/** `comet presence` against a real server, and `comet watch` against a real Mosquitto with a bridged server. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TestBroker } from "../bridge/broker.ts";
import { startComet, waitReadyz } from "../bridge/util.ts";
import { ADMIN, api, connect, startTest, type TestServer } from "../helpers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, run, start } from "./run.ts";

for (const cli of CLIS) {
  describe(`presence (${cli.name})`, () => {
    let server: TestServer;
    let env: Record<string, string>;
    beforeAll(async () => {
      await cli.prepare();
      server = await startTest();
      env = { COMET_URL: server.url, COMET_ADMIN_TOKEN: ADMIN };
    }, BUILD_TIMEOUT_MS);
    afterAll(() => server?.stop());

    test("UIDs: a table of those online (uid, room, server, since, for); --rid: a room's; --json: the answer as it came", async () => {
      const alice = await connect(server, "alice", { rid: "lobby" });
      const bob = await connect(server, "bob 😀");
      try {
        const r = await run(cli, ["presence", "bob 😀", "alice", "nobody"], { env });
        expect([r.code, r.stderr]).toEqual([0, ""]);
        const lines = r.stdout.split("\n");
        expect(lines[0]).toBe("2 online of 3 asked");
        expect(lines[2]).toMatch(/^│ uid +│ room +│ server +│ since +│ for +│$/);
        const rows = lines.filter((l) => /^│ (alice|bob)/.test(l));
        expect(rows.map((l) => l.split("│")[1]?.trim())).toEqual(["alice", "bob 😀"]);
        expect(rows[0]).toMatch(/^│ alice +│ lobby +│ \S+ +│ \d{4}-\d\d-\d\dT[\d:.]+Z │ \d+s +│$/);
        const room = await run(cli, ["presence", "--rid", "lobby"], { env });
        expect(room.stdout.split("\n")[0]).toBe("1 online in room lobby");
        const json = await run(cli, ["presence", "alice", "--json"], { env });
        expect(JSON.parse(json.stdout)).toEqual((await api(server, "Presence", { uids: ["alice"] })).json);
        const none = await run(cli, ["presence", "nobody"], { env });
        expect(none.stdout).toBe("0 online of 1 asked\n");
      } finally {
        alice.close();
        bob.close();
        await Promise.all([alice.closed, bob.closed]);
      }
    });

    test("neither UIDs nor --rid, or both, is a usage error (exit 2, one line); a wrong token names it", async () => {
      for (const args of [["presence"], ["presence", "alice", "--rid", "lobby"]]) {
        const r = await run(cli, args, { env });
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toBe("comet: presence: give UIDs or --rid RID (one of them)");
      }
      const r = await run(cli, ["presence", "alice"], { env: { ...env, COMET_ADMIN_TOKEN: "wrong-token-0123456789" } });
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toContain("wrong admin token");
    });
  });
}

describe("watch", () => {
  const cli = CLIS[0]!;
  let broker: TestBroker;
  let server: TestServer;
  beforeAll(async () => {
    broker = await TestBroker.start();
    server = await startComet(`mqtt: {url: "${broker.url}"}`);
    await waitReadyz(server, 200);
  });
  afterAll(async () => {
    await server?.stop();
    await broker?.stop();
  });

  test("tails activity and presence from the broker, filtered by uid and type; --json gives each its kind", async () => {
    const env = { COMET_MQTT_URL: broker.url };
    const all = start(cli, ["watch", "--uid", "wa", "--count", "4"], { env });
    const onlyPresence = start(cli, ["watch", "--type", "presence.ONLINE,presence.OFFLINE", "--json", "--count", "2"], {
      env,
    });
    await Promise.all([all.stderr.until("watching"), onlyPresence.stderr.until("watching")]);
    const c = await connect(server, "wa", { rid: "den" });
    c.close();
    await c.closed;
    const [a, p] = await Promise.all([all.finish(), onlyPresence.finish()]);
    expect(a.code).toBe(0);
    const lines = a.stdout.trim().split("\n");
    expect(lines.map((l) => l.split(/\s+/).slice(1, 3).join(" "))).toEqual([
      "activity ONLINE",
      "presence ONLINE",
      "activity ENTER_ROOM",
      "activity LEAVE_ROOM",
    ]);
    expect(lines[2]).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z activity +ENTER_ROOM +uid=wa rid=den server=\S+$/);
    expect(p.code).toBe(0);
    const got = p.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, string>);
    expect(got.map((w) => [w.kind, w.type, w.uid])).toEqual([
      ["presence", "ONLINE", "wa"],
      ["presence", "OFFLINE", "wa"],
    ]);
    expect(got[1]!.since).toBe(got[0]!.since);
  });

  test("a bad --type, --count or --mqtt is a usage error; an unreachable broker is named", async () => {
    const bad = await run(cli, ["watch", "--type", "AWAY"]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toContain(
      'watch: --type: expected one of ONLINE, OFFLINE, HEARD, ENTER_ROOM, LEAVE_ROOM, presence.ONLINE, presence.OFFLINE, got "AWAY"',
    );
    const count = await run(cli, ["watch", "--count", "0"]);
    expect([count.code, oneLine(count.stderr)]).toEqual([2, "comet: watch: --count: expected at least 1, got 0"]);
    const url = await run(cli, ["watch", "--mqtt", "http://x"]);
    expect(url.code).toBe(2);
    const down = await run(cli, ["watch", "--mqtt", "mqtt://127.0.0.1:1"]);
    expect(down.code).toBe(1);
    expect(oneLine(down.stderr)).toContain("watch: broker mqtt://127.0.0.1:1");
  });
});
