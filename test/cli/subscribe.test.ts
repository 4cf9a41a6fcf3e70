import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodePushAt } from "../../src/protocol/frames.ts";
import { CutProxy } from "../support/cut-proxy.ts";
import { ADMIN, api, connect, SECRET, startTest, token, waitFor } from "../helpers.ts";
import { startOn, type TestServer } from "../client/servers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, start as startCli } from "./run.ts";

type Running = ReturnType<typeof startCli>;
const finish = (r: Running) => r.finish();

const dir = mkdtempSync(join(tmpdir(), "comet-sub-"));
const configFile = join(dir, "comet.yaml");
writeFileSync(configFile, `auth:\n  jwt:\n    hs256_secret: ${SECRET}\n`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const cli of CLIS) {
  describe(`subscribe (${cli.name})`, () => {
    let server: TestServer;
    const running: Running[] = [];
    /** subscribe with these args; --server is the test server unless args give another. */
    const start = (args: string[], env: Record<string, string> = {}) => {
      const r = startCli(cli, ["subscribe", ...(args.includes("--server") ? [] : ["--server", server.url]), ...args], {
        env,
      });
      running.push(r);
      return r;
    };
    /** Waits until the subscriber's session is live, so that what is published next reaches it. */
    const live = (uid: string, rid = "", on: TestServer = server) =>
      waitFor(() => on.hub.sessions.get(uid)?.rid === rid, `session ${uid}`, 10_000);

    beforeAll(async () => {
      await cli.prepare();
      server = await startTest();
    }, BUILD_TIMEOUT_MS);
    afterEach(() => {
      for (const r of running.splice(0)) r.proc.kill();
    });
    afterAll(() => server?.stop());

    test("--once prints the first evt on its own line and exits 0", async () => {
      const p = start(["--token", await token("once-1"), "--once"]);
      await live("once-1");
      const evt = 'first "evt" 😀';
      await api(server, "Publish", { uid: "once-1", evt });
      await api(server, "Publish", { uid: "once-1", evt: "second" });
      const r = await finish(p);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${evt}\n`);
      expect(r.stderr).toBe(`comet: subscribe: connected to ${server.ws}\n`);
    });

    test("--uid --config --rid --count 3 --json prints each PUSH frame as one JSON line, with its position", async () => {
      const p = start(["--uid", "count-1", "--config", configFile, "--rid", "news", "--count", "3", "--json"]);
      await live("count-1", "news");
      const evts = ["one\n", 'two \\ "2"', "three ☃"];
      for (const evt of evts) await api(server, "Broadcast", { rid: "news", evt });
      const r = await finish(p);
      expect(r.code).toBe(0);
      const epoch = JSON.parse(r.stdout.split("\n")[0] as string).push.epoch as string;
      expect(epoch).toBeString();
      expect(r.stdout).toBe(evts.map((e, i) => `${encodePushAt(e, "r:news", i + 1, epoch)}\n`).join(""));
      expect(r.stdout.split("\n").map((l) => (l ? JSON.parse(l).push.evt : l))).toEqual([...evts, ""]);
    });

    test("--resume --json: a cut connection is resumed, every message printed once, in order per stream", async () => {
      const proxy = await CutProxy.to(server.port);
      try {
        const p = start(
          ["--server", `http://127.0.0.1:${proxy.port}`, "--token", await token("resume-1")].concat([
            "--rid",
            "res",
            "--resume",
            "--json",
            "--count",
            "41",
          ]),
        );
        await live("resume-1", "res");
        const sent: string[] = [];
        for (let i = 0; i < 40; i++) {
          const evt = `m${i}`;
          if (i % 2 === 0) await api(server, "Publish", { uid: "resume-1", evt });
          else await api(server, "Broadcast", { rid: "res", evt });
          sent.push(evt);
          if (i === 9) {
            await p.stdout.until("m9");
            proxy.cut();
          }
        }
        // The report comes after the replay; then one more, live.
        await p.stderr.until("resumed");
        await api(server, "Publish", { uid: "resume-1", evt: "m40" });
        sent.push("m40");
        const r = await finish(p);
        expect(r.code).toBe(0);
        const lines = r.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l).push as { evt: string; stream: string });
        expect(lines.filter((l) => l.stream === "u").map((l) => l.evt)).toEqual(sent.filter((_, i) => i % 2 === 0));
        expect(lines.filter((l) => l.stream === "r:res").map((l) => l.evt)).toEqual(sent.filter((_, i) => i % 2 === 1));
        expect(r.stderr).toMatch(/connection lost: .*; reconnecting\n/);
        expect(r.stderr).toContain("comet: subscribe: resumed: u recovered, r recovered, w NOT recovered\n");
        // Nothing came on the world's stream before the loss: its position was unknown, so it is a gap.
        expect(r.stderr).toContain("comet: subscribe: gap in stream w: not_recovered;");
      } finally {
        await proxy.close();
      }
    });

    test("a ws:// --server without a path gets /comet/Comet/Subscribe; the secret may come from the env", async () => {
      const wsBase = server.url.replace("http://", "ws://");
      const p = start(["--server", wsBase, "--uid", "ws-1", "--once"], { COMET_AUTH_JWT_HS256_SECRET: SECRET });
      await live("ws-1");
      await api(server, "Broadcast", { evt: "world" });
      const r = await finish(p);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe("world\n");
      expect(r.stderr).toContain(`connected to ${server.ws}`);
    });

    test("a bad token: the server closes 4401 and subscribe exits 1 naming it", async () => {
      const p = start(["--token", await token("bad-1", { secret: "another-secret-another-secret-000" })]);
      const r = await finish(p);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr.split("\n").at(-2)).toBe(
        "comet: subscribe: closed by the server: 4401 (token signature invalid)",
      );
      expect(r.stderr).not.toMatch(/^\s+at /m);
    });

    test("Ctrl-C closes the session cleanly (the server sees 1000) and exits 130", async () => {
      const p = start(["--token", await token("sigint-1")]);
      await live("sigint-1");
      const before = await fetch(`${server.url}/metrics`).then((r) => r.text());
      const count = (text: string) => Number(/^comet_disconnects_total\{code="1000"\} (\d+)$/m.exec(text)?.[1] ?? 0);
      p.proc.kill("SIGINT");
      const r = await finish(p);
      expect(r.code).toBe(130);
      await waitFor(() => !server.hub.sessions.has("sigint-1"), "session gone");
      const after = await fetch(`${server.url}/metrics`).then((res) => res.text());
      expect(count(after)).toBe(count(before) + 1);
    });

    test("a room outside the token's rooms claim: exits 1 naming 4403", async () => {
      const p = start(["--token", await token("scoped-1", { rooms: ["team-42/*"] }), "--rid", "team-421/x"]);
      const r = await finish(p);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("comet: subscribe: closed by the server: 4403 (room not allowed)");
    });

    test("replaced by a newer login of the same uid: exits 1 naming 4409", async () => {
      const p = start(["--token", await token("dup-1")]);
      await live("dup-1");
      const newer = await connect(server, "dup-1");
      const r = await finish(p);
      newer.close();
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(
        "comet: subscribe: closed by the server: 4409 (replaced by a newer session of the same uid)",
      );
    });

    test("reconnects after the server restarts, rejoins the room, and goes on printing", async () => {
      let current = await startOn(0, "");
      const port = current.port;
      try {
        const p = start(["--server", current.url, "--uid", "back-1", "--rid", "r", "--count", "2"], {
          COMET_AUTH_JWT_HS256_SECRET: SECRET,
        });
        await live("back-1", "r", current);
        await api(current, "Broadcast", { rid: "r", evt: "before" });
        await p.stdout.until("before\n");
        await current.stop();
        current = await startOn(port, "");
        await live("back-1", "r", current);
        await api(current, "Broadcast", { rid: "r", evt: "after" });
        const r = await finish(p);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe("before\nafter\n");
        expect(r.stderr).toMatch(/connection lost: \d+.*; reconnecting\n/);
      } finally {
        await current.stop();
      }
    });

    test("usage errors name the flags", async () => {
      const cases: Array<[string[], string]> = [
        [[], "comet: subscribe: give --token JWT, or --uid UID to mint one from the serve config's secret"],
        [["--token", "t", "--uid", "u"], "comet: subscribe: --token and --uid cannot be used together"],
        [["--token", "t", "--once", "--count", "2"], "comet: subscribe: --once and --count cannot be used together"],
        [
          ["--token", "t", "--count", "0"],
          "comet: subscribe: option '-n, --count <n>' argument '0' is invalid. expected a whole number of at least 1 (see comet subscribe --help)",
        ],
      ];
      for (const [args, message] of cases) {
        // COMET_ADMIN_TOKEN is an admin token: it must never stand in for the subscriber's --token.
        const r = await finish(start(args, { COMET_ADMIN_TOKEN: ADMIN }));
        expect({ args, code: r.code, line: oneLine(r.stderr) }).toEqual({ args, code: 2, line: message });
      }
      // --uid without a secret anywhere: nothing to mint with.
      const r = await finish(start(["--uid", "u"]));
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toContain("token: needs auth.jwt.hs256_secret");
    });
  });
}
