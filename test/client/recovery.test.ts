/**
 * The client SDK's positions: it recovers after a cut connection and on a rejoin, drops
 * duplicates, and raises `recovered` and `gap` (also when a seq jumps).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import type { Gap, PushPosition } from "../../src/client/index.ts";
import { api, startTest, token, waitFor } from "../helpers.ts";
import { CutProxy } from "../support/cut-proxy.ts";
import { client, closeClients } from "./recorded.ts";
import { silentServer, type TestServer } from "./servers.ts";

afterEach(closeClients);

/** A client whose positions, recoveries and gaps are recorded too. */
function positioned(opts: Parameters<typeof client>[0]) {
  const { c, log } = client(opts);
  const seen: Array<{ evt: string; position?: PushPosition }> = [];
  const recovered: Array<Readonly<Record<string, boolean>>> = [];
  const gaps: Gap[] = [];
  c.on("push", (evt, position) => seen.push({ evt, position }))
    .on("recovered", (r) => recovered.push(r))
    .on("gap", (g) => gaps.push(g));
  return { c, log, seen, recovered, gaps };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("CometClient positions against a comet server", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest("history: {size: 500}");
  });
  afterAll(() => server.stop());

  test("a cut connection: it reconnects with recover and gets every message once, in order", async () => {
    const proxy = await CutProxy.to(server.port);
    try {
      const uid = "sdk-loss";
      const rid = "sdk-loss-room";
      const { c, seen, recovered, gaps } = positioned({ url: proxy.ws, token: await token(uid), rid });
      await c.connect();
      await waitFor(() => server.hub.sessions.get(uid)?.rid === rid, "session in its room");
      const published: string[] = [];
      const send = async (i: number) => {
        const kind = i % 3;
        const evt = `m${i}`;
        if (kind === 0) await api(server, "Publish", { uid, evt });
        else await api(server, "Broadcast", { rid: kind === 1 ? rid : "", evt });
        published.push(evt);
      };
      for (let i = 0; i < 30; i++) await send(i);
      await waitFor(() => seen.length === 30, "the first 30");
      proxy.cut();
      for (let i = 30; i < 200; i++) await send(i);
      await waitFor(() => seen.length >= 200, "all 200", 10000);
      await sleep(100);
      // In order per stream (a replay sends one stream after the other), each exactly once.
      expect(seen.length).toBe(published.length);
      for (const [stream, kind] of [
        ["u", 0],
        [`r:${rid}`, 1],
        ["w", 2],
      ] as const) {
        const mine = seen.filter((s) => s.position?.stream === stream).map((s) => s.evt);
        expect(mine).toEqual(published.filter((_, i) => i % 3 === kind));
      }
      expect(recovered).toEqual([{ u: true, r: true, w: true }]);
      expect(gaps).toEqual([]);
    } finally {
      await proxy.close();
    }
  });

  test("what cannot be recovered is a gap, once per stream", async () => {
    const small = await startTest("history: {size: 2}");
    const proxy = await CutProxy.to(small.port);
    try {
      const uid = "sdk-gap";
      const { c, seen, recovered, gaps } = positioned({ url: proxy.ws, token: await token(uid) });
      await c.connect();
      await waitFor(() => small.hub.sessions.has(uid), "session");
      await api(small, "Publish", { uid, evt: "before" });
      await api(small, "Broadcast", { evt: "w-before" });
      await waitFor(() => seen.length === 2, "two pushes");
      // The network stays down (the client's retries fail) while more than the history holds goes out.
      proxy.cut(true);
      await waitFor(() => !small.hub.sessions.has(uid), "the cut seen");
      for (let i = 0; i < 5; i++) await api(small, "Publish", { uid, evt: `lost-${i}` });
      proxy.down = false;
      await waitFor(() => recovered.length === 1, "the recovered report", 5000);
      // The world lost nothing; the user's stream lost more than two messages.
      expect(recovered[0]).toEqual({ u: false, w: true });
      expect(gaps).toEqual([{ stream: "u", reason: "not_recovered" }]);
      await api(small, "Publish", { uid, evt: "after" });
      await waitFor(() => seen.at(-1)?.evt === "after", "the next push");
      expect(gaps.length).toBe(1); // the new numbering is taken as it comes, not as another gap
    } finally {
      await proxy.close();
      await small.stop();
    }
  });

  test("a JOIN back into a room recovers what the room got meanwhile", async () => {
    const uid = "sdk-rejoin";
    const stay = positioned({ url: server.ws, token: await token("sdk-rejoin-stay"), rid: "a", positions: false });
    await stay.c.connect();
    const { c, seen, recovered } = positioned({ url: server.ws, token: await token(uid), rid: "a" });
    await c.connect();
    await waitFor(() => server.hub.sessions.get(uid)?.rid === "a", "in a");
    await api(server, "Broadcast", { rid: "a", evt: "a1" });
    await waitFor(() => seen.length === 1, "a1");
    c.join("b");
    await waitFor(() => server.hub.sessions.get(uid)?.rid === "b", "in b");
    await api(server, "Broadcast", { rid: "a", evt: "a2" });
    await api(server, "Broadcast", { rid: "a", evt: "a3" });
    c.join("a");
    await waitFor(() => recovered.length === 1, "the recovered report");
    expect(recovered[0]).toEqual({ r: true });
    expect(seen.map((s) => [s.evt, s.position?.seq])).toEqual([
      ["a1", 1],
      ["a2", 2],
      ["a3", 3],
    ]);
  });

  test("positions: false speaks the original protocol: no position, no recover", async () => {
    const peer = silentServer();
    try {
      const { c } = positioned({ url: peer.url, token: "tok", positions: false, heartbeatInterval: 30 });
      await c.connect();
      await waitFor(() => peer.uplinks.length === 2 && peer.uplinks[1]?.length === 1, "a second connection's AUTH");
      expect(peer.uplinks[0]?.[0]).toBe('{"t":"AUTH","auth":{"token":"tok"}}');
      expect(peer.uplinks[1]?.[0]).toBe('{"t":"AUTH","auth":{"token":"tok"}}');
    } finally {
      await peer.stop();
    }
  });
});

describe("CometClient positions against a scripted peer", () => {
  test("a duplicate is dropped; a skipped seq and a new epoch are gaps; the reconnect recovers from the last position", async () => {
    const peer = silentServer();
    try {
      const { c, seen, gaps } = positioned({ url: peer.url, token: "tok", rid: "x", heartbeatInterval: 1000 });
      await c.connect();
      await waitFor(() => peer.sockets.length === 1 && peer.uplinks[0]?.length === 1, "AUTH");
      const push = (stream: string, seq: number, epoch = "e1") =>
        peer.sockets[0]?.send(JSON.stringify({ t: "PUSH", push: { evt: `${stream}${seq}`, stream, seq, epoch } }));
      push("u", 1);
      push("u", 2);
      push("u", 2); // a duplicate
      push("u", 1); // an older one
      push("u", 5); // 3 and 4 skipped
      push("w", 7);
      push("w", 1, "e2"); // the world's numbering restarted
      push("r:x", 3);
      await waitFor(() => seen.length === 6, "six pushes");
      expect(seen.map((s) => s.evt)).toEqual(["u1", "u2", "u5", "w7", "w1", "r:x3"]);
      expect(gaps).toEqual([
        { stream: "u", reason: "seq_jump", missed: 2 },
        { stream: "w", reason: "epoch_changed" },
      ]);
      peer.sockets[0]?.close(1012, "restart");
      await waitFor(() => peer.uplinks[1]?.length === 1, "the reconnect's AUTH");
      expect(JSON.parse(peer.uplinks[1]?.[0] as string)).toEqual({
        t: "AUTH",
        auth: { token: "tok" },
        join: { rid: "x" },
        positions: true,
        recover: { u: { epoch: "e1", seq: 5 }, w: { epoch: "e2", seq: 1 }, r: { epoch: "e1", seq: 3 } },
      });
      // A report's false stream is a gap, and the report is not answered like a probe.
      peer.sockets[1]?.send('{"t":"HB","hb":{"recovered":{"u":true,"r":false,"w":true}}}');
      await waitFor(() => gaps.length === 3, "the gap of r");
      expect(gaps[2]).toEqual({ stream: "r:x", reason: "not_recovered" });
      await sleep(50);
      expect(peer.uplinks[1]?.length).toBe(1);
    } finally {
      await peer.stop();
    }
  });
});
