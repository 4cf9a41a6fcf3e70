/**
 * Server-Sent Events and NDJSON subscriptions against a real server (docs/protocol.md, "Server-Sent
 * Events and HTTP streaming"): sessions like a WebSocket's, refusals as HTTP statuses before any
 * stream byte, heartbeat comments, and the limits.
 */
import { describe, expect, test } from "bun:test";
import net from "node:net";
import type { Activity } from "../../src/hub/activity.ts";
import { api, connect, startTest, token, waitFor } from "../helpers.ts";
import { StreamClient } from "../support/stream-client.ts";

type Server = Awaited<ReturnType<typeof startTest>>;

/** An SSE subscription; resolves once the server holds its session (in rid when given). */
async function sse(server: Server, uid: string, opts: { rid?: string; query?: boolean; ndjson?: boolean } = {}) {
  const t = await token(uid);
  const q = new URLSearchParams();
  if (opts.rid !== undefined) q.set("rid", opts.rid);
  if (opts.query) q.set("token", t);
  const path = opts.ndjson ? "/comet/Comet/Subscribe" : "/comet/sse";
  const c = new StreamClient(server.url, {
    path: `${path}?${q}`,
    bearer: opts.query ? undefined : t,
    kind: opts.ndjson ? "ndjson" : "sse",
  });
  await c.opened;
  expect(c.status).toBe(200);
  await waitFor(() => {
    const s = server.hub.sessions.get(uid);
    return s !== undefined && s.rid === (opts.rid ?? "");
  }, `session ${uid}`);
  return c;
}

const metricsText = async (server: Server) => (await fetch(`${server.url}/metrics`)).text();

describe("a stream is a session", () => {
  test("an SSE client and a WebSocket client in one room receive the same broadcasts in the same order", async () => {
    const server = await startTest();
    try {
      const ws = await connect(server, "ws-user", { rid: "lobby" });
      const es = await sse(server, "sse-user", { rid: "lobby", query: true });
      const nd = await sse(server, "nd-user", { rid: "lobby", ndjson: true });
      const sent: string[] = [];
      for (let i = 0; i < 50; i++) {
        const evt = i % 10 === 0 ? `line\nbreak ${i} \u2028 "quoted" é 😀` : `evt-${i}`;
        sent.push(evt);
        // Room and world alike; the HTTP API answers once the hub has handed the frame out.
        expect((await api(server, "Broadcast", i % 2 ? { rid: "lobby", evt } : { evt })).status).toBe(200);
      }
      expect(await ws.waitPushes(50)).toEqual(sent);
      expect(await es.waitPushes(50)).toEqual(sent);
      expect(await nd.waitPushes(50)).toEqual(sent);
      // Each event's data is the PUSH frame, with its position (a stream always carries them),
      // on one line; the WebSocket that did not ask gets Part 1's frame.
      const world = (seq: number) => ({ stream: "w", seq });
      const room = (seq: number) => ({ stream: "r:lobby", seq });
      const expected = sent.map((evt, i) => ({ evt, ...(i % 2 ? room((i + 1) / 2) : world(i / 2 + 1)) }));
      const pushOf = (json: string) => {
        const { evt, stream, seq, epoch } = (JSON.parse(json) as { push: Record<string, unknown> }).push;
        expect(typeof epoch).toBe("string");
        return { evt, stream, seq };
      };
      expect(es.events.map((e) => pushOf(e.data))).toEqual(expected);
      expect(nd.lines.filter((l) => l.t === "PUSH").map((l) => pushOf(JSON.stringify(l)))).toEqual(expected);
      expect(ws.raw.filter((r) => r.includes('"PUSH"'))).toEqual(
        sent.map((evt) => `{"t":"PUSH","push":{"evt":${JSON.stringify(evt)}}}`),
      );
      expect(es.events.every((e) => e.event === "message" && e.id !== undefined)).toBe(true);
      expect(es.headers?.get("content-type")).toBe("text/event-stream; charset=utf-8");
      expect(nd.headers?.get("content-type")).toBe("application/x-ndjson");
      // A Publish reaches a stream's user alone.
      await api(server, "Publish", { uid: "sse-user", evt: "for sse" });
      await api(server, "Publish", { uid: "nd-user", evt: "for nd" });
      expect((await es.waitPushes(51)).at(-1)).toBe("for sse");
      expect((await nd.waitPushes(51)).at(-1)).toBe("for nd");
      const dump = await api(server, "DumpSession", { transport: true });
      const transports = Object.fromEntries(
        (dump.json.world as Array<{ uid: string; transport: string }>).map((s) => [s.uid, s.transport]),
      );
      expect(transports).toEqual({ "ws-user": "websocket", "sse-user": "sse", "nd-user": "ndjson" });
      const m = await metricsText(server);
      expect(m).toContain('comet_sessions_by_transport{transport="websocket"} 1');
      expect(m).toContain('comet_sessions_by_transport{transport="sse"} 1');
      expect(m).toContain('comet_sessions_by_transport{transport="ndjson"} 1');
      expect(m).toContain('comet_connections_by_transport{transport="sse"} 1');
      ws.close();
      es.close();
      nd.close();
    } finally {
      await server.stop();
    }
  });

  test("activity: ONLINE and ENTER_ROOM on the stream's start, LEAVE_ROOM and OFFLINE when the client goes", async () => {
    const server = await startTest();
    try {
      const seen: Activity[] = [];
      server.hub.onActivity((a) => seen.push(a));
      const es = await sse(server, "act", { rid: "room-a" });
      es.close();
      await waitFor(() => !server.hub.sessions.has("act"), "the session to end");
      await waitFor(() => seen.length >= 4, "four activities");
      expect(seen.map((a) => `${a.type} ${a.uid} ${a.rid}`)).toEqual([
        "ONLINE act ",
        "ENTER_ROOM act room-a",
        "LEAVE_ROOM act room-a",
        "OFFLINE act ",
      ]);
    } finally {
      await server.stop();
    }
  });

  test("one session per uid across transports: a WebSocket login ends the SSE stream, and an SSE login replaces the WebSocket (4409)", async () => {
    const server = await startTest();
    try {
      const es = await sse(server, "same", { rid: "r1" });
      const ws = await connect(server, "same", { rid: "r2" });
      await es.waitEnd();
      // Its last event says why, as a close code says it on a WebSocket.
      const last = es.events.at(-1);
      expect(last?.event).toBe("close");
      expect(JSON.parse(last?.data as string)).toEqual({ code: 4409, reason: expect.any(String) });
      expect(last?.id).toBeUndefined();
      expect(es.text.endsWith(`event: close\ndata: ${last?.data}\n\n`)).toBe(true);
      expect(server.hub.sessions.get("same")?.rid).toBe("r2");
      await api(server, "Publish", { uid: "same", evt: "to the websocket" });
      expect(await ws.waitPushes(1)).toEqual(["to the websocket"]);
      expect(es.pushes()).toEqual([]);
      const nd = await sse(server, "same", { rid: "r3", ndjson: true });
      expect((await ws.waitClose()).code).toBe(4409);
      await api(server, "Publish", { uid: "same", evt: "to the stream" });
      expect(await nd.waitPushes(1)).toEqual(["to the stream"]);
      expect(server.hub.sessions.get("same")?.rid).toBe("r3");
      nd.close();
    } finally {
      await server.stop();
    }
  });

  test("heartbeat: a comment (SSE) or an HB line (NDJSON) after each interval of downlink silence, and never a timeout", async () => {
    const server = await startTest("heartbeat: {interval: 250ms}");
    try {
      const es = await sse(server, "hb-sse");
      const nd = await sse(server, "hb-nd", { ndjson: true });
      const start = Date.now();
      // The opening comment or HB line, then one per interval of silence: at most 1 + 8 in 2 s
      // (never early); a sweep may come a quarter interval late, a busy machine later still.
      await Bun.sleep(2000);
      expect(es.comments).toBeGreaterThanOrEqual(4);
      expect(es.comments).toBeLessThanOrEqual(9);
      // Nothing but the opening (a comment and the starting id) and comments.
      expect(es.text.replace(/^:\nid: [^\n]+\n\n/, "").replaceAll(":\n\n", "")).toBe("");
      const hbs = nd.lines.filter((l) => l.t === "HB").length;
      expect(hbs).toBeGreaterThanOrEqual(4);
      expect(hbs).toBeLessThanOrEqual(9);
      expect(nd.lines.every((l) => JSON.stringify(l) === '{"t":"HB","hb":{}}')).toBe(true);
      // A client that cannot answer is never closed for silence (3 × interval is long past).
      expect(Date.now() - start).toBeGreaterThan(3 * 250);
      expect(es.ended || nd.ended).toBe(false);
      expect(server.hub.sessions.has("hb-sse") && server.hub.sessions.has("hb-nd")).toBe(true);
      // Downlink traffic defers the probe: a PUSH every 25 ms for 750 ms (sent on a clock, not
      // one after the other's answer) brings no comment.
      const before = es.comments;
      const sent: Array<Promise<unknown>> = [];
      for (let i = 0; i < 30; i++) {
        sent.push(api(server, "Publish", { uid: "hb-sse", evt: `busy ${i}` }));
        await Bun.sleep(25);
      }
      await Promise.all(sent);
      await es.waitPushes(30);
      expect(es.comments).toBe(before);
      es.close();
      nd.close();
    } finally {
      await server.stop();
    }
  });
});

describe("a quiet stream", () => {
  // Bun closes an HTTP response that sends nothing for its idle timeout (10 s by default): a
  // stream, quiet for up to heartbeat.interval (60 s by default), must be left open. Read by curl:
  // Bun's own fetch keeps the server's timer from firing, a real EventSource or curl does not.
  test("outlives the runtime's idle timeout: 13 s without a byte, then a PUSH still arrives", async () => {
    const server = await startTest("heartbeat: {interval: 60s}");
    try {
      const curl = Bun.spawn(["curl", "-sN", "-m", "20", `${server.url}/comet/sse?token=${await token("quiet")}`], {
        stdout: "pipe",
        stderr: "ignore",
      });
      await waitFor(() => server.hub.sessions.has("quiet"), "curl's session");
      // Bun's timer fires between 10 and 12 s of silence.
      await Bun.sleep(13_500);
      expect(curl.exitCode).toBeNull();
      expect(server.hub.sessions.has("quiet")).toBe(true);
      await api(server, "Publish", { uid: "quiet", evt: "still here" });
      const reader = curl.stdout.getReader();
      const decoder = new TextDecoder();
      let text = "";
      while (!text.includes("still here")) {
        const { value, done } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      expect(text).toContain("still here");
      curl.kill();
    } finally {
      await server.stop();
    }
  }, 25_000);
});

describe("refusals come as HTTP statuses before any stream byte", () => {
  const get = (server: Server, path: string, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, { headers: { accept: "text/event-stream", ...headers } });

  test("a wrong, expired, foreign or missing token is 401; a room outside the claim is 403", async () => {
    const server = await startTest("auth: {rooms: claim}");
    try {
      const cases: Array<[string, Record<string, string>, number]> = [
        [`/comet/sse?token=${await token("x", { secret: "another-secret-that-is-long-enough-000" })}`, {}, 401],
        [`/comet/sse?token=${await token("x", { exp: -60 })}`, {}, 401],
        [`/comet/sse?token=${await token("x", { iss: "someone.else" })}`, {}, 401],
        ["/comet/sse?token=not-a-jwt", {}, 401],
        ["/comet/sse", {}, 401],
        ["/comet/sse?token=", {}, 401],
        ["/comet/Comet/Subscribe", { authorization: "Bearer nope" }, 401],
        ["/comet/Comet/Subscribe", { authorization: `Basic ${btoa("a:b")}` }, 401],
        [`/comet/sse?rid=team-1/x&token=${await token("x", { rooms: ["team-2/*"] })}`, {}, 403],
        // auth.rooms: claim and no claim: no room at all
        [`/comet/sse?rid=any&token=${await token("x")}`, {}, 403],
        [`/comet/sse?rid=any&token=${await token("x", { rooms: "any" })}`, {}, 401],
      ];
      for (const [path, headers, status] of cases) {
        const res = await get(server, path, headers);
        expect({ path, status: res.status }).toEqual({ path, status });
        expect(res.headers.get("content-type")).toBe("application/json");
        const body = (await res.json()) as { code: number; id: string };
        expect(body.code).toBe(status);
      }
      expect(server.hub.sessions.size).toBe(0);
      // The claim allows it: the stream starts, in that room.
      const ok = await get(server, `/comet/sse?rid=team-2/a&token=${await token("ok", { rooms: ["team-2/*"] })}`);
      expect(ok.status).toBe(200);
      await waitFor(() => server.hub.sessions.get("ok")?.rid === "team-2/a", "the session in team-2/a");
      await ok.body?.cancel();
      const m = await metricsText(server);
      expect(m).toMatch(/comet_auth_failures_total\{reason="[a-z_]+"\} \d/);
    } finally {
      await server.stop();
    }
  });

  test("Accept decides on the subscribe paths; /comet/sse takes GET only", async () => {
    const server = await startTest();
    try {
      const t = await token("neg");
      // No stream asked for: still the WebSocket's path.
      expect((await fetch(`${server.url}/comet/Comet/Subscribe?token=${t}`)).status).toBe(426);
      expect(
        (await fetch(`${server.url}/comet/subscribe?token=${t}`, { headers: { accept: "application/json" } })).status,
      ).toBe(426);
      const post = await fetch(`${server.url}/comet/sse?token=${t}`, { method: "POST" });
      expect(post.status).toBe(405);
      expect(post.headers.get("allow")).toBe("GET");
      const short = await fetch(`${server.url}/comet/subscribe?token=${t}`, {
        headers: { accept: "text/html, text/event-stream;q=0.9" },
      });
      expect(short.status).toBe(200);
      expect(short.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
      await short.body?.cancel();
      await waitFor(() => !server.hub.sessions.has("neg"), "the first stream's session to end");
      // curl's default Accept on /comet/sse is SSE; Accept: application/x-ndjson there is NDJSON.
      const nd = await fetch(`${server.url}/comet/sse?token=${t}`, { headers: { accept: "application/x-ndjson" } });
      expect(nd.headers.get("content-type")).toBe("application/x-ndjson");
      await nd.body?.cancel();
    } finally {
      await server.stop();
    }
  });

  test("allowed_origins: another Origin is 403; a listed one gets the stream with access-control-allow-origin", async () => {
    const server = await startTest("allowed_origins: [https://app.example.com]");
    try {
      const t = await token("o");
      const denied = await get(server, `/comet/sse?token=${t}`, { origin: "https://evil.example.com" });
      expect(denied.status).toBe(403);
      expect(((await denied.json()) as { id: string }).id).toBe("comet.forbidden_origin");
      const ok = await get(server, `/comet/sse?token=${t}`, { origin: "https://app.example.com" });
      expect(ok.status).toBe(200);
      expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      await ok.body?.cancel();
      // The preflight of a cross-origin fetch that sends Authorization and Last-Event-ID.
      const preflight = (origin: string) =>
        fetch(`${server.url}/comet/Comet/Subscribe`, {
          method: "OPTIONS",
          headers: {
            origin,
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization, last-event-id",
          },
        });
      const allowed = await preflight("https://app.example.com");
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
      expect(allowed.headers.get("access-control-allow-headers")).toBe("authorization, last-event-id, accept");
      expect((await preflight("https://evil.example.com")).status).toBe(403);
      // No session, no connection, no connect counted by a preflight.
      expect(server.gateway.connections.size).toBe(0);
    } finally {
      await server.stop();
    }
  });

  test("connects_per_ip_per_second counts streams too: the next is 429 with Retry-After", async () => {
    const server = await startTest("limits: {connects_per_ip_per_second: 2}");
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++) {
        const res = await get(server, `/comet/sse?token=${await token(`rate-${i}`)}`);
        statuses.push(res.status);
        if (res.status === 429) expect(res.headers.get("retry-after")).toBe("1");
        await res.body?.cancel();
      }
      expect(statuses).toEqual([200, 200, 429]);
    } finally {
      await server.stop();
    }
  });

  test("max_connections counts streams and WebSockets together: the next is 503", async () => {
    const server = await startTest("limits: {max_connections: 2}");
    try {
      const ws = await connect(server, "mc-ws");
      const es = await sse(server, "mc-sse");
      const third = await get(server, `/comet/sse?token=${await token("mc-3")}`);
      expect(third.status).toBe(503);
      expect(((await third.json()) as { id: string }).id).toBe("comet.too_many_connections");
      expect(server.hub.sessions.has("mc-3")).toBe(false);
      expect(await metricsText(server)).toContain('comet_connections_rejected_total{reason="max_connections"} 1');
      ws.close();
      es.close();
    } finally {
      await server.stop();
    }
  });
});

describe("operations", () => {
  test("a reader that stops reading is cut at max_send_buffer; its room keeps getting everything", async () => {
    const server = await startTest("limits: {max_send_buffer: 262144, max_evt_bytes: 300000, max_body_bytes: 400000}");
    try {
      const fast = await sse(server, "fast", { rid: "big" });
      const sock = net.connect(server.port, "127.0.0.1");
      await new Promise((r) => sock.once("connect", r));
      sock.write(
        `GET /comet/sse?rid=big&token=${await token("slow")} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`,
      );
      await waitFor(() => server.hub.sessions.get("slow")?.rid === "big", "the slow session");
      sock.pause();
      const evt = "x".repeat(256 * 1024);
      let sentBeforeDrop = 0;
      for (let i = 0; i < 120; i++) {
        expect((await api(server, "Broadcast", { rid: "big", evt })).status).toBe(200);
        if (server.hub.sessions.has("slow")) sentBeforeDrop++;
      }
      await waitFor(() => !server.hub.sessions.has("slow"), "slow consumer dropped", 5000);
      // 30 MiB went to the room: the stalled reader was cut once the kernel's buffers and the
      // 256 KiB of max_send_buffer were full, not after the server had queued it all.
      expect(sentBeforeDrop).toBeLessThan(80);
      await fast.waitPushes(120, 10_000);
      expect(fast.pushes().length).toBe(120);
      expect(fast.ended).toBe(false);
      expect(await metricsText(server)).toContain('comet_disconnects_total{code="1006"} 1');
      sock.destroy();
      fast.close();
    } finally {
      await server.stop();
    }
  });

  test("a live stream ends when its token expires (no re-AUTH on a stream: the client reconnects with a fresh one)", async () => {
    const server = await startTest("auth: {jwt: {clock_tolerance: 0s}}");
    try {
      const c = new StreamClient(server.url, { path: `/comet/sse?token=${await token("brief", { exp: 1 })}` });
      await c.opened;
      expect(c.status).toBe(200);
      await waitFor(() => server.hub.sessions.has("brief"), "the session");
      await c.waitEnd(4000);
      expect(c.events.at(-1)?.event).toBe("close");
      expect((JSON.parse(c.events.at(-1)?.data as string) as { code: number }).code).toBe(4401);
      await waitFor(() => !server.hub.sessions.has("brief"), "the session to end");
      expect(await metricsText(server)).toContain('comet_disconnects_total{code="4401"} 1');
    } finally {
      await server.stop();
    }
  });

  test("drain: new streams 503, live streams ended", async () => {
    const server = await startTest("shutdown: {drain: 300ms}");
    try {
      const es = await sse(server, "dr-1", { rid: "d" });
      const nd = await sse(server, "dr-2", { ndjson: true });
      const drained = server.drain();
      await waitFor(() => server.gateway.draining, "the drain to start");
      const late = await fetch(`${server.url}/comet/sse?token=${await token("late")}`);
      expect(late.status).toBe(503);
      expect(((await late.json()) as { id: string }).id).toBe("comet.shutting_down");
      await drained;
      await es.waitEnd();
      await nd.waitEnd();
      expect(JSON.parse(es.events.at(-1)?.data as string)).toEqual({ code: 1001, reason: expect.any(String) });
      // NDJSON has no close line (the protocol names none): its last line is a frame, or the opening HB.
      expect(nd.lines.every((l) => typeof l.t === "string")).toBe(true);
      expect(server.hub.sessions.size).toBe(0);
    } finally {
      await server.stop();
    }
  });

  test("a token in the query never appears in a log line", async () => {
    const lines: string[] = [];
    const server = await startTest("", {}, { lines });
    try {
      const good = await token("logged", { exp: 3600 });
      const bad = `${good.slice(0, -4)}AAAA`;
      const es = new StreamClient(server.url, { path: `/comet/sse?rid=r&token=${good}` });
      await es.opened;
      await waitFor(() => server.hub.sessions.has("logged"), "the session");
      const refused = await fetch(`${server.url}/comet/sse?token=${bad}`);
      expect(refused.status).toBe(401);
      const garbage = await fetch(`${server.url}/comet/Comet/Subscribe?token=${good}%ZZ`, {
        headers: { accept: "text/event-stream" },
      });
      expect([400, 401, 200]).toContain(garbage.status);
      await garbage.body?.cancel();
      es.close();
      await waitFor(() => !server.hub.sessions.has("logged"), "the session to end");
      await waitFor(() => lines.some((l) => l.includes('"connection closed"')), "the close to be logged");
      expect(lines.length).toBeGreaterThan(0);
      // Not the token, nor its signature alone (the part a log could show cut).
      const signature = good.split(".")[2] as string;
      for (const l of lines) {
        expect(l).not.toContain(signature);
        expect(l).not.toContain(bad.split(".")[2] as string);
      }
    } finally {
      await server.stop();
    }
  });

  test("curl -N shows the events as they come", async () => {
    const server = await startTest();
    try {
      const curl = Bun.spawn(["curl", "-sN", `${server.url}/comet/sse?rid=c&token=${await token("curl")}`], {
        stdout: "pipe",
      });
      await waitFor(() => server.hub.sessions.get("curl")?.rid === "c", "curl's session");
      await api(server, "Broadcast", { rid: "c", evt: "first" });
      await api(server, "Broadcast", { evt: "second" });
      const reader = curl.stdout.getReader();
      let out = "";
      while (!out.includes("second")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += new TextDecoder().decode(value);
      }
      // The opening comment sets the id (the positions the session started at), then one event each.
      const e = /^:\nid: u:(\w+):0,r:(\w+):0,w:(\w+):(\d+)\n\n/.exec(out);
      expect(e).not.toBeNull();
      const [, u, r, w, ws] = e as unknown as string[];
      const w1 = Number(ws) + 1;
      expect(out).toBe(
        `:\nid: u:${u}:0,r:${r}:0,w:${w}:${ws}\n\n` +
          `id: u:${u}:0,r:${r}:1,w:${w}:${ws}\n` +
          `data: {"t":"PUSH","push":{"evt":"first","stream":"r:c","seq":1,"epoch":"${r}"}}\n\n` +
          `id: u:${u}:0,r:${r}:1,w:${w}:${w1}\n` +
          `data: {"t":"PUSH","push":{"evt":"second","stream":"w","seq":${w1},"epoch":"${w}"}}\n\n`,
      );
      curl.kill();
      await waitFor(() => !server.hub.sessions.has("curl"), "curl's session to end");
    } finally {
      await server.stop();
    }
  });
});
