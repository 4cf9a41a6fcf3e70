import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, api, connect, quietSessions, startTest, type TestServer } from "../helpers.ts";
import { renderDump } from "../../src/cli/dump.ts";
import { BUILD_TIMEOUT_MS, CLIS, run } from "./run.ts";

type Server = TestServer;

function fill(server: Server, n: number, rooms: number): Promise<void> {
  return quietSessions(
    server,
    Array.from({ length: n }, (_, i) => ({
      uid: `user-${String(i).padStart(5, "0")}`,
      rid: i % 2 === 0 ? `room-${i % rooms}` : undefined,
    })),
  );
}

for (const cli of CLIS) {
  describe(`dump (${cli.name})`, () => {
    let server: Server;
    let env: Record<string, string>;
    beforeAll(async () => {
      await cli.prepare();
      server = await startTest();
      env = { COMET_URL: server.url, COMET_ADMIN_TOKEN: ADMIN };
    }, BUILD_TIMEOUT_MS);
    afterAll(() => server?.stop());

    test("tables list the world (uid, room, transport, birth, age) and the rooms (rid, members)", async () => {
      const alice = await connect(server, "alice", { rid: "lobby" });
      const bob = await connect(server, "bob", { rid: "lobby" });
      const carol = await connect(server, "carol 😀");
      try {
        const r = await run(cli, ["dump"], { env });
        expect(r.code).toBe(0);
        expect(r.stderr).toBe("");
        const lines = r.stdout.split("\n");
        expect(lines[0]).toBe("world: 3 sessions");
        expect(lines[2]).toMatch(/^│ uid +│ room +│ transport +│ birth +│ age +│$/);
        const { world } = (await api(server, "DumpSession", {})).json as {
          world: Array<{ uid: string; birth: string }>;
        };
        const birth = (uid: string) => world.find((s) => s.uid === uid)?.birth as string;
        for (const [uid, rid] of [
          ["alice", "lobby"],
          ["bob", "lobby"],
          ["carol 😀", ""],
        ]) {
          const row = lines.find((l) => l.startsWith(`│ ${uid} `));
          expect(row).toMatch(new RegExp(`^│ ${uid} +│ ${rid} +│ websocket │ ${birth(uid as string)} │ \\d+s +│$`));
        }
        expect(r.stdout).toContain("\nrooms: 1 room\n");
        expect(lines.find((l) => l.startsWith("│ lobby "))).toMatch(/^│ lobby │ 2 +│ (bob, alice|alice, bob) │$/);
      } finally {
        for (const c of [alice, bob, carol]) c.close();
        await Bun.sleep(50);
      }
    });

    test("--json prints the server's DumpSession JSON as it came", async () => {
      const dave = await connect(server, "dave", { rid: "den" });
      try {
        const r = await run(cli, ["dump", "--json"], { env });
        expect(r.code).toBe(0);
        const direct = await api(server, "DumpSession", {});
        expect(r.stdout).toBe(`${direct.text}\n`);
        expect(JSON.parse(r.stdout).rooms).toContainEqual({
          rid: "den",
          room: [expect.objectContaining({ uid: "dave" })],
        });
      } finally {
        dave.close();
      }
    });

    test("an empty instance says so", async () => {
      const empty = await startTest();
      try {
        const r = await run(cli, ["dump", "--server", empty.url], { env });
        expect(r).toEqual({ code: 0, stdout: "world: 0 sessions\n\nrooms: 0 rooms\n", stderr: "" });
      } finally {
        await empty.stop();
      }
    });

    test("thousands of sessions: every one is in the table and in --json", async () => {
      const big = await startTest();
      try {
        await fill(big, 5000, 40);
        const args = ["dump", "--server", big.url];
        const table = await run(cli, args, { env });
        expect(table.code).toBe(0);
        const lines = table.stdout.split("\n");
        expect(lines[0]).toBe("world: 5000 sessions");
        const rows = lines.filter((l) => /^│ user-\d{5} /.test(l));
        expect(new Set(rows.map((l) => l.slice(2, 12))).size).toBe(5000);
        // One width for every row, however many chunks the table was drawn in.
        expect(new Set(lines.filter((l) => l.startsWith("│")).map((l) => l.length)).size).toBe(2);
        expect(table.stdout).toContain("\nrooms: 20 rooms\n");
        expect(lines.find((l) => l.startsWith("│ room-0 "))).toMatch(/│ 125 +│ .*, … \(\+120\) +│$/);
        const json = await run(cli, [...args, "--json"], { env });
        expect(json.code).toBe(0);
        const d = JSON.parse(json.stdout);
        expect(d.world.length).toBe(5000);
        expect(d.rooms.length).toBe(20);
        // `comet dump | head -1`: the reader leaves long before the table ends; that is no error.
        const piped = await run(
          { ...cli, argv: () => ["sh", "-c", '( "$@"; echo "exit=$?" >&2 ) | head -n 1', "sh", ...cli.argv()] },
          args,
          { env },
        );
        expect(piped).toEqual({ code: 0, stdout: "world: 5000 sessions\n", stderr: "exit=0\n" });
      } finally {
        await big.stop();
      }
    });

    test("a uid with control or invisible characters is shown escaped, keeping the table whole", async () => {
      const odd = await startTest();
      try {
        await quietSessions(odd, [{ uid: "evil\nuid\u200b" }]);
        const r = await run(cli, ["dump", "--server", odd.url], { env });
        expect(r.code).toBe(0);
        expect(r.stdout).toContain("│ evil\\u000auid\\u200b │");
      } finally {
        await odd.stop();
      }
    });
  });
}

test("a cluster's answer names the instances that did not answer, after the tables", async () => {
  const birth = "2026-11-29T12:00:00.000Z";
  const text = await renderDump(
    { world: [{ uid: "a", rid: "", birth }], rooms: [], unanswered: ["web-2-41-aa", "web-3-7-bb"] },
    Date.parse(birth),
  );
  expect(text.split("\n").slice(-2)).toEqual([
    "unanswered: 2 instances, their sessions missing: web-2-41-aa, web-3-7-bb",
    "",
  ]);
  expect(await renderDump({ world: [], rooms: [] }, 0)).toBe("world: 0 sessions\n\nrooms: 0 rooms\n");
});
