/** `comet publish --batch FILE|-`: NDJSON lines through the Batch API, each answered, in order. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, connect, startTest } from "../helpers.ts";
import { SOURCE, run } from "./run.ts";

const cli = SOURCE;
let server: Awaited<ReturnType<typeof startTest>>;
let env: Record<string, string>;
const dir = mkdtempSync(join(tmpdir(), "comet-batch-"));

beforeAll(async () => {
  await cli.prepare();
  server = await startTest("limits: {max_evt_bytes: 100, max_batch_commands: 3}");
  env = { COMET_URL: server.url, COMET_ADMIN_TOKEN: ADMIN };
});
afterAll(() => server?.stop());

describe("publish --batch", () => {
  test("a file: every line delivered in order across several requests; summary on stderr, exit 0", async () => {
    const c = await connect(server, "bt-a", { rid: "bt-room" });
    const lines = [
      ...Array.from({ length: 7 }, (_, i) => JSON.stringify({ uid: "bt-a", evt: `u${i}` })),
      JSON.stringify({ rid: "bt-room", evt: "room" }),
      "",
      JSON.stringify({ evt: "world" }),
    ];
    const file = join(dir, "ok.ndjson");
    writeFileSync(file, `${lines.join("\n")}\n`);
    const r = await run(cli, ["publish", "--batch", file, "--batch-size", "3"], { env });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^comet: publish: sent 9, refused 0, in \d+\.\d\d s\n$/);
    expect(await c.waitPushes(9)).toEqual(["u0", "u1", "u2", "u3", "u4", "u5", "u6", "room", "world"]);
    c.close();
  });

  test("stdin, with bad lines: each refused line is named, the others delivered; --json summary; exit 1", async () => {
    const c = await connect(server, "bt-b");
    const stdin = [
      '{"uid":"bt-b","evt":"1"}',
      "not json",
      '{"uid":"","evt":"no uid"}',
      `{"uid":"bt-b","evt":"${"x".repeat(101)}"}`,
      "[1,2]",
      '{"uid":"bt-b","evt":"2"}',
    ].join("\n");
    const r = await run(cli, ["publish", "--batch", "-", "--json", "--batch-size", "3"], { env, stdin });
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n").filter(Boolean)).toEqual([
      "comet: publish: line 2: 400 not JSON",
      "comet: publish: line 3: 400 uid is required",
      "comet: publish: line 4: 413 evt over limits.max_evt_bytes (100 bytes, counted in UTF-8)",
      "comet: publish: line 5: 400 not a JSON object",
    ]);
    const summary = JSON.parse(r.stdout) as { sent: number; refused: number; seconds: number };
    expect([summary.sent, summary.refused]).toEqual([2, 4]);
    expect(await c.waitPushes(2)).toEqual(["1", "2"]);
    c.close();
  });

  test("usage errors: flags that --batch replaces, a bad --batch-size, a missing file", async () => {
    const both = await run(cli, ["publish", "--batch", "-", "--uid", "x"], { env });
    expect([both.code, both.stderr.trim()]).toEqual([
      2,
      "comet: publish: --batch takes its uids and evts from the lines; drop --uid",
    ]);
    const size = await run(cli, ["publish", "--batch", "-", "--batch-size", "0"], { env });
    expect(size.code).toBe(2);
    expect(size.stderr).toContain("--batch-size: expected a whole number of at least 1");
    const missing = await run(cli, ["publish", "--batch", join(dir, "nope.ndjson")], { env });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`publish: --batch: cannot read ${join(dir, "nope.ndjson")}`);
  });

  test("a server limit below --batch-size stops with the server's words and where it stopped", async () => {
    const stdin = Array.from({ length: 5 }, () => '{"rid":"nobody","evt":"x"}').join("\n");
    const r = await run(cli, ["publish", "--batch", "-", "--batch-size", "5"], { env, stdin });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      "comet: publish: server answered 413 Payload Too Large: 5 commands, over limits.max_batch_commands (3); stopped at line 1",
    );
  });
});
