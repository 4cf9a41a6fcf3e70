/** `comet disconnect` and `comet revocations` as processes against a real server: output, --json, exit codes. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, api, connect, startTest, type TestServer } from "../helpers.ts";
import { BUILD_TIMEOUT_MS, oneLine, run, SOURCE } from "./run.ts";

// The source CLI only: the commands embed nothing, and the executable is proven by the other CLI tests.
const cli = SOURCE;

describe("disconnect and revocations", () => {
  let server: TestServer;
  let env: Record<string, string>;
  beforeAll(async () => {
    await cli.prepare();
    server = await startTest();
    env = { COMET_URL: server.url, COMET_ADMIN_TOKEN: ADMIN };
  }, BUILD_TIMEOUT_MS);
  afterAll(() => server?.stop());

  test("closes the session with the reason and says so; --json prints the answer; exit 0 with nobody there too", async () => {
    const c = await connect(server, "cli-a");
    const r = await run(cli, ["disconnect", "--uid", "cli-a", "--reason", "maintenance"], { env });
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "cli-a: 1 session closed (4410)\n", ""]);
    expect(await c.waitClose()).toEqual({ code: 4410, reason: "maintenance" });
    const none = await run(cli, ["disconnect", "--uid", "cli-a", "--json"], { env });
    expect([none.code, JSON.parse(none.stdout)]).toEqual([0, { disconnected: 0 }]);
  });

  test("--revoke refuses the tokens and revocations lists them (table, --json)", async () => {
    const r = await run(cli, ["disconnect", "-u", "cli-r", "--revoke"], { env });
    expect([r.code, r.stdout]).toEqual([
      0,
      "cli-r: no session open; its tokens issued until now are refused (see comet revocations)\n",
    ]);
    const table = await run(cli, ["revocations"], { env });
    expect(table.code).toBe(0);
    const lines = table.stdout.split("\n");
    expect(lines[0]).toBe("1 revocation in force");
    expect(lines[2]).toMatch(/^│ uid +│ revoked at +│ expires +│ in +│$/);
    expect(lines.find((l) => l.startsWith("│ cli-r"))).toMatch(/^│ cli-r +│ \d{4}-[\d-]+T[\d:.]+Z │ [\dT:.Z-]+ │ 23h5\dm │$/);
    const json = await run(cli, ["revocations", "--json"], { env });
    expect(JSON.parse(json.stdout)).toEqual((await api(server, "Revocations", {})).json);
  });

  test("--uid - reads uids from stdin, one per line; --json then names each", async () => {
    const a = await connect(server, "cli-s1");
    const b = await connect(server, "cli-s2");
    const r = await run(cli, ["disconnect", "--uid", "-", "--json"], { env, stdin: "cli-s1\r\ncli-s2\n\ncli-s3\n" });
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l))).toEqual([
      { uid: "cli-s1", disconnected: 1 },
      { uid: "cli-s2", disconnected: 1 },
      { uid: "cli-s3", disconnected: 0 },
    ]);
    await Promise.all([a.waitClose(), b.waitClose()]);
  });

  test("a bad uid or reason is one line naming it and a non-zero exit; so are a missing --uid and a wrong token", async () => {
    const empty = await run(cli, ["disconnect", "--uid", ""], { env });
    expect([empty.code, oneLine(empty.stderr)]).toEqual([2, "comet: disconnect: --uid: expected a user id, got an empty string"]);
    const missing = await run(cli, ["disconnect"], { env });
    expect(missing.code).toBe(2);
    expect(oneLine(missing.stderr)).toContain("--uid");
    const long = await run(cli, ["disconnect", "--uid", "x", "--reason", "r".repeat(124)], { env });
    expect([long.code, oneLine(long.stderr)]).toEqual([
      1,
      "comet: disconnect: server answered 400 Bad Request: reason over 123 bytes (UTF-8): a close frame holds no more",
    ]);
    const noStdin = await run(cli, ["disconnect", "--uid", "-"], { env, stdin: "\n" });
    expect([noStdin.code, oneLine(noStdin.stderr)]).toEqual([2, "comet: disconnect: --uid -: no uid on stdin"]);
    const wrong = await run(cli, ["revocations"], { env: { ...env, COMET_ADMIN_TOKEN: "wrong-token-0123456789" } });
    expect(wrong.code).toBe(1);
    expect(oneLine(wrong.stderr)).toContain("wrong admin token");
  });
});
