/**
 * The operators' console seen from plain HTTP (no browser): the shell at /console carries no data
 * and the policy headers; each data endpoint (instances, history, activity) answers 401 without the
 * admin token, counts failures as the API does, and answers what the hub holds; the activity
 * stream is bounded (streams at once, and bytes a reader leaves unread).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Activity } from "../../src/hub/activity.ts";
import { ActivityStreams } from "../../src/ui/console-activity.ts";
import { CONTENT_SECURITY_POLICY } from "../../src/ui/routes.ts";
import { ADMIN, api, connect, inProcess, startTest, type TestServer } from "../helpers.ts";

let server: TestServer;
let id: string;
beforeAll(async () => {
  server = await startTest("ui: {enabled: true}");
  id = inProcess(server).id;
});
afterAll(() => server.stop());

const DATA = ["/console/instances", "/console/history?stream=w", "/console/activity"];
const auth = { authorization: `Bearer ${ADMIN}` };

test("/console without the token is the shell alone, with the page's policy headers", async () => {
  const c = await connect(server, "shell-secret-user", { rid: "shell-secret-room" });
  const res = await fetch(`${server.url}/console`);
  const html = await res.text();
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/html");
  expect(res.headers.get("content-security-policy")).toBe(CONTENT_SECURITY_POLICY);
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(html).toContain('<script type="module" src="/ui/console/console.js"></script>');
  expect(html).not.toContain("<script>");
  for (const secret of ["shell-secret-user", "shell-secret-room", id]) expect(html).not.toContain(secret);
  c.close();
});

test("the console's files are served with their types, the policy and nosniff", async () => {
  for (const [path, type] of [
    ["/ui/console/console.js", "text/javascript"],
    ["/ui/console/views.js", "text/javascript"],
    ["/ui/console/chart.js", "text/javascript"],
    ["/ui/console/activity.js", "text/javascript"],
    ["/ui/console/console.css", "text/css"],
  ] as const) {
    const res = await fetch(`${server.url}${path}`);
    await res.arrayBuffer();
    expect([path, res.status, res.headers.get("content-type")]).toEqual([path, 200, expect.stringContaining(type)]);
    expect([path, res.headers.get("content-security-policy")]).toEqual([path, CONTENT_SECURITY_POLICY]);
    expect([path, res.headers.get("x-content-type-options")]).toEqual([path, "nosniff"]);
  }
});

test("each data endpoint answers 401 without the admin token or with a wrong one, 405 to a POST", async () => {
  for (const path of DATA) {
    const refused: Array<Record<string, string>> = [
      {},
      { authorization: "Bearer not-the-admin-token" },
      { authorization: ADMIN },
    ];
    for (const headers of refused) {
      const res = await fetch(`${server.url}${path}`, { headers });
      const body = (await res.json()) as { id: string };
      expect([path, res.status, body.id]).toEqual([path, 401, "comet.unauthorized"]);
      expect([path, res.headers.get("content-security-policy")]).toEqual([path, CONTENT_SECURITY_POLICY]);
    }
    const post = await fetch(`${server.url}${path}`, { method: "POST", headers: auth });
    await post.arrayBuffer();
    expect([path, post.status, post.headers.get("allow")]).toEqual([path, 405, "GET"]);
  }
});

test("wrong admin tokens at the console count toward the address's limit, as at the API", async () => {
  const got = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const res = await fetch(`${server.url}/console/instances`, { headers: { authorization: `Bearer wrong-${i}` } });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  expect(got).toContain(429);
  expect(got.every((s) => s === 401 || s === 429)).toBe(true);
  // The right token still gets in at once: only failures are refused.
  expect((await fetch(`${server.url}/console/instances`, { headers: auth })).status).toBe(200);
});

test("instances names this instance; history reads a user's, a room's and the world's stream", async () => {
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: auth });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  };
  expect((await get("/console/instances")).json).toEqual({ self: id, instances: [id] });
  const c = await connect(server, "reader", { rid: "lobby" });
  await api(server, "Publish", { uid: "reader", evt: "for you" });
  await api(server, "Broadcast", { rid: "lobby", evt: "for the room" });
  await api(server, "Broadcast", { evt: "for everyone" });
  const user = await get(`/console/history?${new URLSearchParams({ stream: "u", uid: "reader" })}`);
  expect(user.json).toMatchObject({ stream: "u", uid: "reader", seq: 1, messages: [{ seq: 1, evt: "for you" }] });
  const room = await get("/console/history?stream=r:lobby");
  expect(room.json).toMatchObject({ stream: "r:lobby", seq: 1, messages: [{ seq: 1, evt: "for the room" }] });
  const world = await get("/console/history?stream=w");
  expect((world.json.messages as Array<{ evt: string }>).map((m) => m.evt)).toContain("for everyone");
  expect((await get("/console/history?stream=r:nowhere")).json).toMatchObject({ epoch: "", seq: 0, messages: [] });
  for (const bad of ["", "?stream=u", "?stream=r:", "?stream=x"]) {
    expect([bad, (await get(`/console/history${bad}`)).status]).toEqual([bad, 400]);
  }
  c.close();
});

test("the activity stream carries the hub's activity as SSE, at most 16 streams at once", async () => {
  const res = await fetch(`${server.url}/console/activity`, { headers: auth });
  expect(res.headers.get("content-type")).toContain("text/event-stream");
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const c = await connect(server, "watched", { rid: "seen" });
  c.close();
  let text = "";
  while (!text.includes('"type":"OFFLINE","uid":"watched"'))
    text += decoder.decode((await reader.read()).value, { stream: true });
  const events = text
    .split("\n")
    .filter((l) => l.startsWith("data: "))
    .map((l) => JSON.parse(l.slice(6)))
    .filter((e) => e.uid === "watched");
  expect(events.map((e) => [e.type, e.uid, e.rid, e.server])).toEqual([
    ["ONLINE", "watched", "", id],
    ["ENTER_ROOM", "watched", "seen", id],
    ["LEAVE_ROOM", "watched", "seen", id],
    ["OFFLINE", "watched", "", id],
  ]);
  const more = await Promise.all(
    Array.from({ length: 16 }, () => fetch(`${server.url}/console/activity`, { headers: auth })),
  );
  expect(more.map((r) => r.status).sort()).toEqual([...Array(15).fill(200), 503]);
  await reader.cancel();
  for (const r of more) await r.body?.cancel();
});

test("a reader that leaves its stream unread past the bound is dropped, and the hub no longer heard", async () => {
  let listener: ((a: Activity) => void) | undefined;
  let listening = 0;
  const source = (l: (a: Activity) => void) => {
    listener = l;
    listening++;
    return () => {
      listening--;
    };
  };
  const streams = new ActivityStreams(source, "srv", { readers: 2, queued: 4096, keepaliveMs: 100 });
  const slow = streams.open() as ReadableStream<Uint8Array>;
  const other = streams.open() as ReadableStream<Uint8Array>;
  expect(streams.open()).toBeUndefined();
  expect(listening).toBe(1);
  const otherReader = other.getReader();
  const got: string[] = [];
  const reading = (async () => {
    for (;;) {
      const { value, done } = await otherReader.read();
      if (done) return;
      got.push(new TextDecoder().decode(value));
    }
  })();
  for (let i = 0; i < 100; i++) {
    listener?.({ type: "ONLINE", uid: `u${i}`, rid: "", time: "1" });
    await Bun.sleep(0);
  }
  expect(streams.dropped).toBe(1);
  expect(streams.size).toBe(1);
  await expect(slow.getReader().read()).rejects.toThrow("slow reader");
  expect(got.join("")).toContain('"uid":"u99"');
  // Quiet, the stream still sends a comment line: Bun cuts a request idle for 10 s.
  const before = got.length;
  await Bun.sleep(300);
  expect(got.slice(before)).toContain(":\n\n");
  streams.closeAll();
  await reading;
  expect(listening).toBe(0);
});
