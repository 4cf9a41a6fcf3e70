/**
 * Guessing the admin token: past 20 failures a second from one client address the HTTP API
 * answers 429, counted by outcome; a caller with the right token is never refused.
 */
import { afterAll, expect, test } from "bun:test";
import { ADMIN, startTest, type TestServer } from "../helpers.ts";

const servers: TestServer[] = [];
afterAll(() => Promise.all(servers.map((s) => s.stop())));
const start = async (yaml = "") => {
  const s = await startTest(yaml);
  servers.push(s);
  return s;
};

const dump = (server: TestServer, token: string, headers: Record<string, string> = {}) =>
  fetch(`${server.url}/comet/Comet/DumpSession`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, ...headers },
  });

/** Each response's status, its body read so that its connection is free again. */
const statuses = (responses: Promise<Response>[]) =>
  Promise.all(
    responses.map(async (p) => {
      const res = await p;
      await res.arrayBuffer();
      return res.status;
    }),
  );

const failures = async (server: TestServer) => {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const read = (outcome: string) =>
    Number(new RegExp(`^comet_admin_auth_failures_total\\{outcome="${outcome}"\\} (\\d+)$`, "m").exec(text)?.[1]);
  return { unauthorized: read("unauthorized"), limited: read("rate_limited") };
};

test("50 quick wrong tokens from one address: 429s past 20; the right token, sent among them, is answered 200", async () => {
  const server = await start();
  expect(await failures(server)).toEqual({ unauthorized: 0, limited: 0 });
  // In the order sent: the right token after the 25th wrong one and after the 50th.
  const sent: Array<{ right: boolean; res: Promise<Response> }> = [];
  for (let i = 1; i <= 50; i++) {
    sent.push({ right: false, res: dump(server, `wrong-token-number-${i}`) });
    if (i === 25 || i === 50) sent.push({ right: true, res: dump(server, ADMIN) });
  }
  const got = await statuses(sent.map((s) => s.res));
  const wrong = got.filter((_, i) => !sent[i]?.right);
  expect(got.filter((_, i) => sent[i]?.right)).toEqual([200, 200]);
  expect(wrong.every((s) => s === 401 || s === 429)).toBe(true);
  const limited = wrong.filter((s) => s === 429).length;
  expect(limited).toBeGreaterThan(0);
  expect(await failures(server)).toEqual({ unauthorized: 50 - limited, limited });

  // It is not a lockout: a second later the address is answered 401 again.
  await Bun.sleep(1100);
  expect((await dump(server, "wrong-token-later")).status).toBe(401);
});

test("the 429 carries retry-after and the go-micro error shape", async () => {
  const server = await start();
  const got = await statuses(Array.from({ length: 30 }, (_, i) => dump(server, `guess-${i}`)));
  expect(got).toContain(429);
  // One at a time until one is refused: 21 failures in one second are enough, however slow the machine.
  let res = await dump(server, "guess-after");
  for (let i = 0; res.status !== 429 && i < 25; i++) res = await dump(server, `guess-after-${i}`);
  expect(res.status).toBe(429);
  expect(res.headers.get("retry-after")).toBe("1");
  expect(res.headers.get("content-type")).toContain("application/json");
  expect(await res.json()).toEqual({
    id: "comet.too_many_auth_failures",
    code: 429,
    detail: "too many failed admin authentications from this address: retry in a second",
    status: "Too Many Requests",
  });
});

test("a forged X-Forwarded-For does not escape the limit; from a trusted proxy it names the client", async () => {
  // Not from a trusted proxy: every request is the peer's, whatever address it claims.
  const plain = await start();
  const forged = await statuses(
    Array.from({ length: 40 }, (_, i) => dump(plain, "wrong-token-forged", { "x-forwarded-for": `10.1.0.${i}` })),
  );
  expect(forged).toContain(429);

  // Behind a trusted proxy: one client's failures do not limit another behind the same proxy.
  const proxied = await start("trusted_proxies: [127.0.0.1, '::1']");
  const guesser = await statuses(
    Array.from({ length: 40 }, () => dump(proxied, "wrong-token-guess", { "x-forwarded-for": "10.0.0.1" })),
  );
  expect(guesser).toContain(429);
  expect((await dump(proxied, "wrong-token-other", { "x-forwarded-for": "10.0.0.2" })).status).toBe(401);
});
