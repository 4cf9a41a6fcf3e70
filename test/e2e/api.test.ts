import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN, api, connect, startTest } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest("limits: {max_body_bytes: 1024, max_evt_bytes: 100}");
});
afterAll(() => server.stop());

const post = (
  path: string,
  body: BodyInit | null,
  headers: Record<string, string> = { authorization: `Bearer ${ADMIN}` },
  method = "POST",
) => fetch(`${server.url}${path}`, { method, headers, body: method === "GET" ? undefined : body });

async function expectError(res: Response, code: number, id: string, detail?: string) {
  expect(res.status).toBe(code);
  expect(res.headers.get("content-type")).toContain("application/json");
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.id).toBe(id);
  expect(body.code).toBe(code);
  expect(typeof body.status).toBe("string");
  if (detail) expect(body.detail).toBe(detail);
  return body;
}

describe("HTTP API", () => {
  test("Publish and Broadcast answer 200 {} even when no one is there", async () => {
    for (const [m, body] of [
      ["Publish", { uid: "nobody", evt: "x" }],
      ["Broadcast", { rid: "empty-room", evt: "x" }],
      ["Broadcast", { evt: "x" }],
    ] as const) {
      const r = await api(server, m, body);
      expect(r.status).toBe(200);
      expect(r.json).toEqual({});
    }
  });

  test("the body is JSON whatever the Content-Type says; an empty body is {}", async () => {
    const c = await connect(server, "ct");
    const r = await post("/comet/Comet/Publish", '{"uid":"ct","evt":"plain"}', {
      authorization: `Bearer ${ADMIN}`,
      "content-type": "text/plain",
    });
    expect(r.status).toBe(200);
    expect(await c.waitPushes(1)).toEqual(["plain"]);
    const empty = await post("/comet/Comet/Broadcast", "");
    expect(empty.status).toBe(200);
    expect(await c.waitPushes(2)).toEqual(["plain", ""]);
    c.close();
  });

  test("evt arrives byte for byte", async () => {
    const c = await connect(server, "bytes");
    const evt = '{"nested":"json \\" \\\\"}\n\t\u2028😀';
    await api(server, "Publish", { uid: "bytes", evt });
    expect(await c.waitPushes(1)).toEqual([evt]);
    c.close();
  });

  test("401 for a missing, wrong, or malformed bearer token", async () => {
    for (const h of <Array<Record<string, string>>>[
      {},
      { authorization: "Bearer wrong" },
      { authorization: ADMIN },
      { authorization: `Basic ${ADMIN}` },
    ]) {
      await expectError(await post("/comet/Comet/Publish", '{"uid":"a"}', h), 401, "comet.unauthorized");
    }
  });

  test("404 for an unknown path, 405 for a wrong method", async () => {
    await expectError(await post("/comet/Comet/Nope", "{}"), 404, "comet.not_found");
    await expectError(await post("/elsewhere", "{}"), 404, "comet.not_found");
    const r = await post("/comet/Comet/Publish", null, {}, "GET");
    await expectError(r, 405, "comet.method_not_allowed");
    expect(r.headers.get("allow")).toBe("POST");
  });

  test("400 for bad JSON, a non-object body, a missing or empty uid, a field of the wrong type", async () => {
    await expectError(await post("/comet/Comet/Publish", "{nope"), 400, "comet.bad_request", "body is not valid JSON");
    const notUtf8 = new Uint8Array([...new TextEncoder().encode('{"uid":"a","evt":"'), 0xff, 0x22, 0x7d]);
    await expectError(await post("/comet/Comet/Publish", notUtf8), 400, "comet.bad_request", "body is not UTF-8");
    // A leading byte order mark is not part of the JSON text.
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode('{"uid":"nobody","evt":"x"}')]);
    expect((await post("/comet/Comet/Publish", bom)).status).toBe(200);
    await expectError(
      await post("/comet/Comet/Publish", "[1]"),
      400,
      "comet.bad_request",
      "body must be a JSON object",
    );
    await expectError(await post("/comet/Comet/Publish", '{"evt":"x"}'), 400, "comet.bad_request", "uid is required");
    await expectError(
      await post("/comet/Comet/Publish", '{"uid":"","evt":"x"}'),
      400,
      "comet.bad_request",
      "uid is required",
    );
    await expectError(
      await post("/comet/Comet/Publish", '{"uid":5}'),
      400,
      "comet.bad_request",
      "uid must be a string, got number",
    );
    await expectError(
      await post("/comet/Comet/Broadcast", '{"evt":{"a":1}}'),
      400,
      "comet.bad_request",
      "evt must be a string, got object",
    );
    await expectError(
      await post("/comet/Comet/Broadcast", '{"rid":["a"]}'),
      400,
      "comet.bad_request",
      "rid must be a string, got array",
    );
    await expectError(await post("/comet/Comet/Broadcast", new Uint8Array([0xff, 0xfe])), 400, "comet.bad_request");
  });

  test("413 for a body over max_body_bytes and an evt over max_evt_bytes counted in UTF-8", async () => {
    await expectError(
      await post("/comet/Comet/Broadcast", JSON.stringify({ evt: "x".repeat(2000) })),
      413,
      "comet.body_too_large",
    );
    await expectError(
      await post("/comet/Comet/Broadcast", JSON.stringify({ evt: "x".repeat(101) })),
      413,
      "comet.evt_too_large",
    );
    // 40 characters, 120 bytes in UTF-8: over the limit of 100 bytes.
    await expectError(
      await post("/comet/Comet/Publish", JSON.stringify({ uid: "a", evt: "€".repeat(40) })),
      413,
      "comet.evt_too_large",
    );
    expect((await api(server, "Broadcast", { evt: "x".repeat(100) })).status).toBe(200);
  });

  test("a chunked body over the limit is refused without a Content-Length", async () => {
    const stream = new ReadableStream({
      start(ctl) {
        for (let i = 0; i < 10; i++) ctl.enqueue(new TextEncoder().encode("x".repeat(200)));
        ctl.close();
      },
    });
    await expectError(await post("/comet/Comet/Broadcast", stream), 413, "comet.body_too_large");
  });

  test("when several errors apply, docs/protocol.md's order decides: 404, 405, 401, 413 body, 400, 413 evt", async () => {
    await expectError(await post("/comet/Comet/Nope", null, {}, "GET"), 404, "comet.not_found");
    await expectError(await post("/comet/Comet/Publish", null, {}, "GET"), 405, "comet.method_not_allowed");
    await expectError(await post("/comet/Comet/Publish", "x".repeat(5000), {}), 401, "comet.unauthorized");
    await expectError(await post("/comet/Comet/Publish", `{nope${"x".repeat(5000)}`), 413, "comet.body_too_large");
    await expectError(
      await post("/comet/Comet/Publish", JSON.stringify({ evt: "x".repeat(500) })),
      400,
      "comet.bad_request",
    );
    await expectError(
      await post("/comet/Comet/Publish", JSON.stringify({ uid: "a", evt: "x".repeat(500) })),
      413,
      "comet.evt_too_large",
    );
  });

  test("DumpSession's transport option must be a boolean", async () => {
    const r = await api(server, "DumpSession", { transport: "yes" });
    expect(r.status).toBe(400);
    expect(r.json.detail).toBe("transport must be a boolean, got string");
  });

  test("DumpSession answers world and rooms", async () => {
    const r = await api(server, "DumpSession", {});
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ world: expect.any(Array), rooms: expect.any(Array) });
  });
});

describe("health and metrics", () => {
  test("/healthz and /readyz answer 200 without a token", async () => {
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
  });

  test("/metrics is Prometheus text with connections, sessions, rooms, pushes, auth failures", async () => {
    const c = await connect(server, "metrics-user", { rid: "metrics-room" });
    await api(server, "Broadcast", { rid: "metrics-room", evt: "m" });
    await c.waitPushes(1);
    const bad = new WebSocket(server.ws);
    await new Promise((r) => bad.addEventListener("open", r));
    bad.send(JSON.stringify({ t: "AUTH", auth: { token: "bad" } }));
    await new Promise((r) => bad.addEventListener("close", r));
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    const value = (line: string) =>
      Number(
        text
          .split("\n")
          .find((l) => l.startsWith(`${line} `))
          ?.split(" ")[1],
      );
    expect(value("comet_sessions")).toBeGreaterThanOrEqual(1);
    expect(value("comet_connections")).toBeGreaterThanOrEqual(1);
    expect(value("comet_rooms")).toBeGreaterThanOrEqual(1);
    expect(value("comet_pushes_delivered_total")).toBeGreaterThanOrEqual(1);
    expect(value('comet_auth_failures_total{reason="invalid"}')).toBeGreaterThanOrEqual(1);
    expect(text).toContain("# TYPE comet_sessions gauge");
    c.close();
  });

  test("a plain GET on the subscribe path asks for an upgrade", async () => {
    const r = await fetch(server.ws.replace("ws", "http"));
    expect(r.status).toBe(426);
  });
});
