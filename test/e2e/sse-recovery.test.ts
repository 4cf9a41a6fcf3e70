/**
 * Last-Event-ID (docs/protocol.md, "Server-Sent Events and HTTP streaming"): each event's id holds
 * the reader's position in its three streams, a reconnect that sends it back recovers what it
 * missed, and when that cannot be done the first event is `event: gap`.
 */
import { describe, expect, test } from "bun:test";
import { api, startTest, token, waitFor } from "../helpers.ts";
import { type SseEvent, StreamClient } from "../support/stream-client.ts";

type Server = Awaited<ReturnType<typeof startTest>>;

async function open(server: Server, uid: string, rid: string, lastId?: string, ndjson = false) {
  const c = new StreamClient(server.url, {
    path: `/comet/sse?rid=${rid}&token=${await token(uid)}`,
    kind: ndjson ? "ndjson" : "sse",
    headers: lastId === undefined ? {} : { "last-event-id": lastId },
  });
  await c.opened;
  expect(c.status).toBe(200);
  await waitFor(() => server.hub.sessions.get(uid)?.rid === rid, `session ${uid}`);
  return c;
}

type Push = { evt: string; stream: string; seq: number; epoch: string };
const pushOf = (e: SseEvent): Push => (JSON.parse(e.data) as { push: Push }).push;

async function cut(server: Server, c: StreamClient, uid: string): Promise<void> {
  c.close();
  await c.waitEnd();
  await waitFor(() => !server.hub.sessions.has(uid), "the session to end");
}

describe("Last-Event-ID", () => {
  test("an SSE client cut mid-stream reconnects with Last-Event-ID and misses nothing, once each, in order", async () => {
    const server = await startTest("history: {size: 1000}");
    try {
      const first = await open(server, "cut", "room");
      const sent: Record<string, string[]> = { u: [], "r:room": [], w: [] };
      let cutAt = -1;
      for (let i = 0; i < 600; i++) {
        const evt = `m${i}`;
        const kind = i % 3;
        if (kind === 0) await api(server, "Publish", { uid: "cut", evt });
        else if (kind === 1) await api(server, "Broadcast", { rid: "room", evt });
        else await api(server, "Broadcast", { evt });
        sent[kind === 0 ? "u" : kind === 1 ? "r:room" : "w"]?.push(evt);
        // Cut while messages flow: what the client had parsed decides its last id.
        if (cutAt < 0 && first.events.length >= 150) {
          cutAt = i;
          first.close();
        }
      }
      expect(cutAt).toBeGreaterThan(0);
      await first.waitEnd();
      await waitFor(() => !server.hub.sessions.has("cut"), "the first session to end");
      const before = first.events.map(pushOf);
      expect(first.lastId).toBe(first.events.at(-1)?.id);
      const second = await open(server, "cut", "room", first.lastId);
      await second.until(() => before.length + second.events.length >= 600, 5000, "all 600");
      expect(second.events.some((e) => e.event === "gap")).toBe(false);
      const all = [...before, ...second.events.map(pushOf)];
      for (const [stream, evts] of Object.entries(sent)) {
        const got = all.filter((p) => p.stream === stream);
        expect(got.map((p) => p.evt)).toEqual(evts);
        expect(got.map((p) => p.seq)).toEqual(evts.map((_, i) => i + 1));
      }
      // Nothing more comes (no repeat after the replay).
      await Bun.sleep(100);
      expect(before.length + second.events.length).toBe(600);
      second.close();
    } finally {
      await server.stop();
    }
  });

  test("the opening id alone resumes: a client cut before its first event misses nothing", async () => {
    const server = await startTest();
    try {
      const first = await open(server, "early", "");
      expect(first.lastId).toMatch(/^u:\w+:0,w:\w+:\d+$/);
      await cut(server, first, "early");
      await api(server, "Publish", { uid: "early", evt: "while away" });
      await api(server, "Broadcast", { evt: "to all while away" });
      const second = await open(server, "early", "", first.lastId);
      expect((await second.waitPushes(2)).sort()).toEqual(["to all while away", "while away"]);
      expect(second.events.some((e) => e.event === "gap")).toBe(false);
      second.close();
    } finally {
      await server.stop();
    }
  });

  test("what cannot be recovered comes first as event: gap, then what could; the ids go on from there", async () => {
    const server = await startTest("history: {size: 5}");
    try {
      const first = await open(server, "gappy", "busy");
      await cut(server, first, "gappy");
      // A member keeps the room (and its stream) alive while the reader is away.
      const keeper = await open(server, "keeper", "busy");
      for (let i = 0; i < 3; i++) await api(server, "Publish", { uid: "gappy", evt: `u${i}` });
      for (let i = 0; i < 10; i++) await api(server, "Broadcast", { rid: "busy", evt: `r${i}` });
      const second = await open(server, "gappy", "busy", first.lastId);
      await second.until(() => second.events.length >= 4, 3000, "the gap and 3 events");
      const [gap, ...rest] = second.events;
      expect(gap?.event).toBe("gap");
      expect(JSON.parse(gap?.data ?? "")).toEqual({ t: "HB", hb: { recovered: { u: true, r: false, w: true } } });
      // The gap's id already stands at the room's head: a reconnect from it will not ask again.
      expect(gap?.id).toMatch(/,r:\w+:10,/);
      expect(rest.map((e) => pushOf(e).evt)).toEqual(["u0", "u1", "u2"]);
      expect(rest.at(-1)?.id).toMatch(/^u:\w+:3,r:\w+:10,w:/);
      await api(server, "Broadcast", { rid: "busy", evt: "next" });
      await second.waitPushes(4);
      expect(pushOf(second.events.at(-1) as SseEvent)).toMatchObject({ evt: "next", seq: 11 });
      second.close();
      keeper.close();
    } finally {
      await server.stop();
    }
  });

  test("a Last-Event-ID this server did not write, or from another instance, is a gap in every stream", async () => {
    const server = await startTest();
    const other = await startTest();
    try {
      for (const [uid, lastId] of [
        ["garbled", "not an id"],
        ["empty", ""],
        ["foreign", "u:zzz:1,r:zzz:1,w:zzz:1"],
      ] as const) {
        const c = await open(server, uid, "x", lastId);
        await c.until(() => c.events.length >= 1, 3000, "the gap");
        expect(c.events[0]?.event).toBe("gap");
        expect(JSON.parse(c.events[0]?.data ?? "")).toEqual({
          t: "HB",
          hb: { recovered: { u: false, r: false, w: false } },
        });
        await cut(server, c, uid);
      }
      // A real id of another instance: other epochs.
      const there = await open(other, "moved", "x");
      await cut(other, there, "moved");
      const here = await open(server, "moved", "x", there.lastId);
      await here.until(() => here.events.length >= 1, 3000, "the gap");
      expect(JSON.parse(here.events[0]?.data ?? "")).toEqual({
        t: "HB",
        hb: { recovered: { u: false, r: false, w: false } },
      });
      here.close();
    } finally {
      await server.stop();
      await other.stop();
    }
  });

  test("NDJSON: the same Last-Event-ID recovers; the frames carry positions and the report is an HB line", async () => {
    const server = await startTest();
    try {
      const sse = await open(server, "nd", "");
      await cut(server, sse, "nd");
      await api(server, "Publish", { uid: "nd", evt: "missed" });
      const nd = await open(server, "nd", "", sse.lastId, true);
      await nd.until(() => nd.lines.length >= 3, 3000, "3 lines");
      expect(nd.lines[0]).toEqual({ t: "HB", hb: {} });
      expect(nd.lines[1]).toMatchObject({ t: "PUSH", push: { evt: "missed", stream: "u", seq: 1 } });
      expect(nd.lines[2]).toEqual({ t: "HB", hb: { recovered: { u: true, w: true } } });
      nd.close();
    } finally {
      await server.stop();
    }
  });
});
