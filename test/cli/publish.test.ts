import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { hostname } from "node:os";
import { ADMIN, type Client, connect, startTest } from "../helpers.ts";
import { closedPort } from "../client/servers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, run } from "./run.ts";

/** 60 KiB of UTF-8 that mixes 1-, 2-, 3- and 4-byte characters, quotes, backslashes and newlines. */
function sixtyKiB(): string {
  const unit = 'aé€😀"\\\n';
  const s = unit.repeat(Math.floor((60 * 1024) / Buffer.byteLength(unit)));
  return s + "x".repeat(60 * 1024 - Buffer.byteLength(s));
}

const PAYLOADS: Array<[string, string]> = [
  ["unicode, with emoji beyond U+FFFF", "héllo wörld 日本語 😀🎉 \u{10348} \u{1F468}\u200D\u{1F469}\u200D\u{1F467}"],
  ["quotes and backslashes", `"double" 'single' \\ \\n \\u0000 {"json":"inside"}`],
  ["newlines, a trailing one included", "line 1\nline 2\r\n\n\ttabbed\n"],
  ["60 KiB", sixtyKiB()],
];

for (const cli of CLIS) {
  describe(`publish and broadcast (${cli.name})`, () => {
    let server: Awaited<ReturnType<typeof startTest>>;
    let env: Record<string, string>;
    let n = 0;
    /** A connected subscriber with a uid of its own, so that tests never see each other's pushes. */
    const subscriber = async (rid?: string): Promise<{ uid: string; c: Client }> => {
      const uid = `u${++n}`;
      return { uid, c: await connect(server, uid, rid === undefined ? {} : { rid }) };
    };

    beforeAll(async () => {
      await cli.prepare();
      server = await startTest();
      env = { COMET_URL: server.url, COMET_ADMIN_TOKEN: ADMIN };
    }, BUILD_TIMEOUT_MS);
    afterAll(() => server?.stop());

    test("the 60 KiB payload is what it claims", () => {
      expect(Buffer.byteLength(sixtyKiB())).toBe(60 * 1024);
    });

    for (const [name, evt] of PAYLOADS) {
      test(`publish --evt carries ${name} byte for byte`, async () => {
        const { uid, c } = await subscriber();
        const r = await run(cli, ["publish", "--uid", uid, "--evt", evt], { env });
        expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
        expect(await c.waitPushes(1)).toEqual([evt]);
        c.close();
      });

      test(`publish reads ${name} from stdin byte for byte`, async () => {
        const { uid, c } = await subscriber();
        const r = await run(cli, ["publish", "--uid", uid], { env, stdin: evt });
        expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
        expect(await c.waitPushes(1)).toEqual([evt]);
        c.close();
      });
    }

    test("stdin keeps a leading byte-order mark and sends an empty stdin as an empty evt", async () => {
      const { uid, c } = await subscriber();
      expect((await run(cli, ["publish", "--uid", uid], { env, stdin: "\uFEFFbom\n" })).code).toBe(0);
      expect((await run(cli, ["publish", "--uid", uid], { env, stdin: "" })).code).toBe(0);
      expect(await c.waitPushes(2)).toEqual(["\uFEFFbom\n", ""]);
      c.close();
    });

    test("broadcast --rid reaches the room only; without --rid, the world", async () => {
      const inRoom = await subscriber("cli-room");
      const outside = await subscriber();
      const room = await run(cli, ["broadcast", "--rid", "cli-room"], { env, stdin: "to the room\n" });
      expect(room).toEqual({ code: 0, stdout: "", stderr: "" });
      const world = await run(cli, ["broadcast", "--evt", "to everyone 😀"], { env });
      expect(world).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(await inRoom.c.waitPushes(2)).toEqual(["to the room\n", "to everyone 😀"]);
      expect(await outside.c.waitPushes(1)).toEqual(["to everyone 😀"]);
      inRoom.c.close();
      outside.c.close();
    });

    test("--server and --token flags work as well as COMET_URL and COMET_ADMIN_TOKEN", async () => {
      const { uid, c } = await subscriber();
      const r = await run(cli, ["publish", "--uid", uid, "--evt", "flags", "--server", server.url, "--token", ADMIN]);
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      expect(await c.waitPushes(1)).toEqual(["flags"]);
      c.close();
    });

    test("--event --data builds the Message: server = host name, a fresh id, time in ns as a JSON integer", async () => {
      const { uid, c } = await subscriber();
      const before = BigInt(Date.now()) * 1_000_000n;
      for (let i = 0; i < 2; i++) {
        const r = await run(cli, ["publish", "--uid", uid, "--event", "order.shipped", "--data", '{"n":"42"}'], {
          env,
        });
        expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      }
      const after = BigInt(Date.now()) * 1_000_000n;
      const evts = await c.waitPushes(2);
      const ids = new Set<string>();
      for (const evt of evts) {
        const m =
          /^\{"server":(".*"),"event":"order\.shipped","data":"\{\\"n\\":\\"42\\"\}","id":(".+"),"time":(\d+)\}$/.exec(
            evt,
          );
        expect(m).not.toBeNull();
        const [, server, id, time] = m as unknown as [string, string, string, string];
        expect(JSON.parse(server)).toBe(hostname());
        ids.add(JSON.parse(id));
        // Read as a string: as a JS number the last digits would be lost.
        expect(time).toMatch(/^[1-9]\d{18}$/);
        expect(BigInt(time)).toBeGreaterThanOrEqual(before - 1_000_000n);
        expect(BigInt(time)).toBeLessThanOrEqual(after + 1_000_000n);
        expect(JSON.parse(evt)).toMatchObject({ event: "order.shipped", data: '{"n":"42"}' });
      }
      expect(ids.size).toBe(2);
      c.close();
    });

    test("--id and --from set the Message's id and server; broadcast builds it too", async () => {
      const { c } = await subscriber("msg-room");
      const r = await run(
        cli,
        [
          "broadcast",
          "--rid",
          "msg-room",
          "--event",
          "chat",
          "--data",
          "hi ☺\n",
          "--id",
          "id-7",
          "--from",
          "backend-1",
        ],
        { env },
      );
      expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
      const [evt] = await c.waitPushes(1);
      expect(evt).toMatch(/^\{"server":"backend-1","event":"chat","data":"hi ☺\\n","id":"id-7","time":\d{19}\}$/);
      c.close();
    });

    describe("errors: one line on stderr that names the problem, a non-zero exit", () => {
      test("server unreachable (a closed port) names the URL", async () => {
        const url = `http://127.0.0.1:${await closedPort()}`;
        const r = await run(cli, ["publish", "--uid", "x", "--evt", "e", "--server", url, "--token", ADMIN]);
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toBe(
          `comet: publish: cannot reach the comet server at ${url} (connection refused); check --server or COMET_URL`,
        );
      });

      test("a wrong admin token is a 401", async () => {
        const r = await run(cli, ["publish", "--uid", "x", "--evt", "e"], {
          env: { ...env, COMET_ADMIN_TOKEN: "nope" },
        });
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toContain("comet: publish: server answered 401 Unauthorized: wrong admin token");
      });

      test("no admin token is a 401 that says how to give one", async () => {
        const r = await run(cli, ["dump"], { env: { COMET_URL: server.url } });
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toBe(
          "comet: dump: server answered 401 Unauthorized: no admin token given: pass --token or set COMET_ADMIN_TOKEN",
        );
      });

      test("a missing --uid is a usage error naming the flag", async () => {
        const r = await run(cli, ["publish", "--evt", "e"], { env });
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toBe(
          "comet: publish: required option '-u, --uid <uid>' not specified (see comet publish --help)",
        );
      });

      test("a 400 carries the server's detail", async () => {
        const r = await run(cli, ["publish", "--uid", "", "--evt", "e"], { env });
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toBe("comet: publish: server answered 400 Bad Request: uid is required");
      });

      test("an evt over limits.max_evt_bytes is a 413 with the server's detail", async () => {
        const r = await run(cli, ["broadcast"], { env, stdin: "é".repeat(32 * 1024 + 1) });
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toBe(
          "comet: broadcast: server answered 413 Payload Too Large: evt over limits.max_evt_bytes (65536 bytes, counted in UTF-8)",
        );
      });

      test("flags that do not go together are usage errors naming them", async () => {
        const cases: Array<[string[], string]> = [
          [["publish", "--uid", "x", "--event", "e"], "comet: publish: --event needs --data"],
          [["publish", "--uid", "x", "--data", "d"], "comet: publish: --data needs --event"],
          [
            ["broadcast", "--evt", "e", "--event", "e", "--data", "d"],
            "comet: broadcast: --evt and --event cannot be used together (--event builds the evt)",
          ],
          [
            ["broadcast", "--evt", "e", "--server", "ftp://x"],
            'comet: broadcast: --server: expected an http(s) URL like http://127.0.0.1:8080, got "ftp://x"',
          ],
        ];
        for (const [args, message] of cases) {
          const r = await run(cli, args, { env });
          expect({ args, code: r.code, line: oneLine(r.stderr) }).toEqual({ args, code: 2, line: message });
        }
      });

      test("stdin that is not UTF-8 is refused before anything is sent", async () => {
        const { uid, c } = await subscriber();
        const r = await run(cli, ["publish", "--uid", uid], { env, stdin: new Uint8Array([0x61, 0xff, 0x62]) });
        expect(r.code).toBe(1);
        expect(oneLine(r.stderr)).toContain("comet: publish: stdin is not valid UTF-8");
        await run(cli, ["publish", "--uid", uid, "--evt", "after"], { env });
        expect(await c.waitPushes(1)).toEqual(["after"]);
        c.close();
      });
    });

    test("--help of every command shows an example; --version prints the version", async () => {
      for (const cmd of ["publish", "broadcast", "dump", "subscribe", "token", "serve"]) {
        const r = await run(cli, [cmd, "--help"]);
        expect({ cmd, code: r.code }).toEqual({ cmd, code: 0 });
        expect(r.stdout).toContain(`Usage: comet ${cmd}`);
        expect(r.stdout).toMatch(new RegExp(`Examples?:\\n {2}comet ${cmd}\\b`));
      }
      const v = await run(cli, ["--version"]);
      expect(v).toEqual({ code: 0, stdout: "0.1.0\n", stderr: "" });
    });
  });
}
