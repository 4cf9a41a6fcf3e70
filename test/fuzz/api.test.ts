/** Property-based fuzzing of the HTTP API: random and mutated requests, bounded in runs. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { ADMIN, api, connect, startTest } from "../helpers.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest("limits: {max_body_bytes: 2048, max_evt_bytes: 512}");
});
afterAll(() => server.stop());

const body = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.json({ maxDepth: 3 }),
  fc
    .record({ uid: fc.anything(), rid: fc.anything(), evt: fc.anything() }, { requiredKeys: [] })
    .map((o) => JSON.stringify(o) ?? ""),
  fc.record({ uid: fc.string(), evt: fc.string({ maxLength: 700 }) }).map((o) => JSON.stringify(o)),
  fc.uint8Array({ maxLength: 3000 }),
);

const request = fc.record({
  path: fc.oneof(
    fc.constantFrom("/comet/Comet/Publish", "/comet/Comet/Broadcast", "/comet/Comet/DumpSession"),
    fc.webPath(),
  ),
  method: fc.constantFrom("POST", "POST", "POST", "GET", "PUT", "DELETE", "PATCH"),
  auth: fc.oneof(fc.constant(`Bearer ${ADMIN}`), fc.constant(`Bearer ${ADMIN}`), fc.string(), fc.constant(undefined)),
  contentType: fc.constantFrom("application/json", "text/plain", "application/octet-stream", undefined),
  body,
});

test("every request gets 200 or a go-micro JSON error of docs/protocol.md, and the server goes on", async () => {
  const watcher = await connect(server, "watcher");
  const runs = fc.sample(request, 400);
  const statuses = new Map<number, number>();
  for (const r of runs) {
    const headers: Record<string, string> = {};
    if (r.auth !== undefined) headers.authorization = r.auth;
    if (r.contentType) headers["content-type"] = r.contentType;
    const hasBody = r.method !== "GET";
    const res = await fetch(`${server.url}${r.path.startsWith("/") ? r.path : `/${r.path}`}`, {
      method: r.method,
      headers,
      body: hasBody ? r.body : undefined,
    });
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    // 429: the random wrong tokens come faster than 20 a second.
    expect([200, 400, 401, 404, 405, 413, 429]).toContain(res.status);
    const text = await res.text();
    const json = JSON.parse(text);
    if (res.status !== 200) {
      expect(json).toEqual({
        id: expect.stringMatching(/^comet\./),
        code: res.status,
        detail: expect.any(String),
        status: expect.any(String),
      });
    }
  }
  // The random mix reached the deep paths, not only the early refusals.
  expect(statuses.get(200) ?? 0).toBeGreaterThan(0);
  expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
  await api(server, "Publish", { uid: "watcher", evt: "alive" });
  await watcher.until(() => watcher.pushes().includes("alive"), 3000, "the push after the fuzzing");
  expect(watcher.closeInfo).toBeUndefined();
  watcher.close();
});
