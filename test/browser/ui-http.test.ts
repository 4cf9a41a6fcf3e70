/**
 * What the demo page's routes answer, seen from plain HTTP (no browser): the policy headers on
 * everything they serve, and a POST /ui/token body refused at its 4 KB limit while it is read.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect as tcpConnect, type Socket } from "node:net";
import { CONTENT_SECURITY_POLICY } from "../../src/ui/routes.ts";
import { ADMIN, startTest, type TestServer } from "../helpers.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTest("ui: {enabled: true}");
});
afterAll(() => server.stop());

test("the page, its script and stylesheet, the SDK and /ui/token carry the policy and nosniff", async () => {
  expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
  expect(CONTENT_SECURITY_POLICY).toContain("connect-src 'self'");
  expect(CONTENT_SECURITY_POLICY).toContain("frame-ancestors 'none'");
  expect(CONTENT_SECURITY_POLICY).not.toContain("unsafe-inline");
  const auth = { authorization: `Bearer ${ADMIN}` };
  for (const [path, init, type] of [
    ["/", {}, "text/html"],
    ["/ui/page.js", {}, "text/javascript"],
    ["/ui/page.css", {}, "text/css"],
    ["/comet-client.js", {}, "text/javascript"],
    ["/ui/token", { method: "POST", headers: auth, body: '{"uid":"x"}' }, "application/json"],
    ["/ui/token", { method: "POST", body: '{"uid":"x"}' }, "application/json"],
  ] as const) {
    const res = await fetch(`${server.url}${path}`, init);
    await res.arrayBuffer();
    expect([path, res.headers.get("content-type")]).toEqual([path, expect.stringContaining(type)]);
    expect([path, res.headers.get("content-security-policy")]).toEqual([path, CONTENT_SECURITY_POLICY]);
    expect([path, res.headers.get("x-content-type-options")]).toEqual([path, "nosniff"]);
  }
});

/** A raw HTTP/1.1 client: the test decides when, and whether, the body ends. */
async function open(head: string): Promise<{ socket: Socket; answer: Promise<string> }> {
  const socket = tcpConnect(server.port, "127.0.0.1");
  socket.on("error", () => {});
  await new Promise((r) => socket.once("connect", r));
  let text = "";
  const answer = new Promise<string>((resolve) => {
    socket.on("data", (d) => {
      text += d.toString();
      if (text.includes("\r\n\r\n")) resolve(text);
    });
    socket.on("close", () => resolve(text));
  });
  socket.write(`${head}\r\n`);
  return { socket, answer };
}

const tokenHead = (framing: string) =>
  `POST /ui/token HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN}\r\n${framing}\r\n`;

test("a chunked body that never ends is refused 413 once past 4 KB, not read to its end", async () => {
  const { socket, answer } = await open(tokenHead("Transfer-Encoding: chunked"));
  let answered = false;
  void answer.then(() => {
    answered = true;
  });
  // 1 KiB chunks, up to 1 MiB, and never the last chunk: a server that read it all never answers.
  let sent = 0;
  while (!answered && sent < 1024 * 1024) {
    socket.write(`400\r\n${"x".repeat(1024)}\r\n`);
    sent += 1024;
    await Bun.sleep(1);
  }
  const text = await Promise.race([answer, Bun.sleep(3000).then(() => "no answer")]);
  socket.destroy();
  expect(text).toStartWith("HTTP/1.1 413");
  expect(text.slice(text.indexOf("\r\n\r\n") + 4)).toStartWith('{"id":"comet.body_too_large","code":413');
  expect(sent).toBeLessThan(1024 * 1024);
});

test("a declared Content-Length over 4 KB is refused before any of the body is sent", async () => {
  const { socket, answer } = await open(tokenHead("Content-Length: 100000"));
  const text = await Promise.race([answer, Bun.sleep(3000).then(() => "no answer")]);
  socket.destroy();
  expect(text).toStartWith("HTTP/1.1 413");
});

test("a body within the limit, chunked, still mints a token", async () => {
  const { socket, answer } = await open(tokenHead("Transfer-Encoding: chunked"));
  const body = '{"uid":"chunked"}';
  socket.write(`${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`);
  const text = await answer;
  socket.destroy();
  expect(text).toStartWith("HTTP/1.1 200");
});

test("wrong admin tokens at /ui/token count toward the address's limit, as at the API", async () => {
  const got = await Promise.all(
    Array.from({ length: 30 }, async (_, i) => {
      const res = await fetch(`${server.url}/ui/token`, {
        method: "POST",
        headers: { authorization: `Bearer wrong-token-${i}` },
        body: '{"uid":"x"}',
      });
      await res.arrayBuffer();
      return res.status;
    }),
  );
  expect(got).toContain(429);
  expect(got.every((s) => s === 401 || s === 429)).toBe(true);
});
