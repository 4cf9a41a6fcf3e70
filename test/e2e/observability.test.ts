import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Close } from "../../src/protocol/codes.ts";
import { Client, connect, startTest, waitFor } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
/** The server's log lines (debug and up). */
const lines: string[] = [];
beforeAll(async () => {
  server = await startTest("", {}, { lines });
});
afterAll(() => server.stop());

/** The comet_disconnects_total series in /metrics, by their code label. */
async function disconnectSeries(): Promise<Map<string, number>> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const series = new Map<string, number>();
  for (const m of text.matchAll(/^comet_disconnects_total\{code="([^"]*)"\} (\d+)$/gm)) {
    series.set(m[1] as string, Number(m[2]));
  }
  return series;
}

/** Opens a client, then closes it with code; resolves once the server has seen it go. */
async function openAndClose(code: number): Promise<void> {
  const c = new Client(server.ws);
  await c.opened;
  c.ws.close(code);
  await c.closed;
}

describe("metric labels", () => {
  test("close codes a client makes up add one series, other, not one each", async () => {
    const table = new Set<number>(Object.values(Close));
    const odd = Array.from({ length: 2000 }, (_, i) => 3000 + i).filter((c) => !table.has(c));
    const before = await disconnectSeries();
    // In batches: the attack is the number of distinct codes, not of connections at once.
    for (let i = 0; i < odd.length; i += 200) await Promise.all(odd.slice(i, i + 200).map(openAndClose));
    await waitFor(() => server.gateway.connections.size === 0, "every connection closed");
    const after = await disconnectSeries();
    const added = [...after.keys()].filter((k) => !before.has(k));
    expect(added).toEqual(["other"]);
    expect(after.get("other")).toBe(odd.length);
  });

  test("the standard codes and the table's keep their own series", async () => {
    const before = await disconnectSeries();
    for (const code of [1000, 4409, 4410]) await openAndClose(code);
    await waitFor(() => server.gateway.connections.size === 0, "every connection closed");
    const after = await disconnectSeries();
    expect((after.get("1000") ?? 0) - (before.get("1000") ?? 0)).toBe(1);
    expect((after.get("4409") ?? 0) - (before.get("4409") ?? 0)).toBe(1);
    // An operator's Disconnect: counted under its own code.
    expect((after.get("4410") ?? 0) - (before.get("4410") ?? 0)).toBe(1);
    expect(after.get("other")).toBe(before.get("other"));
  });
});

describe("log lines", () => {
  /** The "connection closed" lines logged so far for uid. */
  const closedLines = (uid: string) =>
    lines.map((l) => JSON.parse(l)).filter((l) => l.msg === "connection closed" && l.uid === uid);

  test("a session that ends logs one line: uid, room, code", async () => {
    const c = await connect(server, "log-end", { rid: "log-room" });
    c.ws.close(1000);
    await c.closed;
    await waitFor(() => closedLines("log-end").length > 0, "the line");
    expect(closedLines("log-end")).toEqual([
      expect.objectContaining({ level: "info", uid: "log-end", rid: "log-room", code: 1000 }),
    ]);
  });

  test("a session replaced by a newer one of the same uid logs its line too (4409)", async () => {
    const first = await connect(server, "log-twice", { rid: "log-a" });
    const second = await connect(server, "log-twice", { rid: "log-b" });
    expect((await first.waitClose()).code).toBe(Close.Replaced);
    await waitFor(() => closedLines("log-twice").length > 0, "the replaced session's line");
    second.close();
    await second.closed;
    await waitFor(() => closedLines("log-twice").length > 1, "the newer session's line");
    expect(closedLines("log-twice")).toEqual([
      expect.objectContaining({ uid: "log-twice", rid: "log-a", code: 4409 }),
      expect.objectContaining({ uid: "log-twice", rid: "log-b", code: 1005 }),
    ]);
  });
});
