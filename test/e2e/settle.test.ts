/**
 * After a wave of connects and closes, the server runs one full collection (Bun; Deno offers none
 * to a program without --expose-gc): counted in comet_gc_settles_total, and not run again for a
 * trickle of connections.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Client, startTest, waitFor } from "../helpers.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest();
});
afterAll(() => server.stop());

async function settles(): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  if (!text.includes("# TYPE comet_gc_settles_total counter")) throw new Error("comet_gc_settles_total is missing");
  // A counter with no labels shows its series from its first increment.
  const m = /^comet_gc_settles_total (\d+)$/m.exec(text);
  return m ? Number(m[1]) : 0;
}

async function openAndClose(n: number): Promise<void> {
  for (let i = 0; i < n; i += 100) {
    await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, async () => {
        const c = new Client(server.ws);
        await c.opened;
        c.ws.close(1000);
        await c.closed;
      }),
    );
  }
  await waitFor(() => server.gateway.connections.size === 0, "every connection closed");
}

test("one collection once a wave of 1,000 connects and closes is over; none for a trickle after it", async () => {
  expect(await settles()).toBe(0);
  await openAndClose(600); // 1,200 connects and closes
  const want = TEST_RUNTIME === "deno" ? 0 : 1;
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline && (await settles()) < want) await Bun.sleep(50);
  expect(await settles()).toBe(want);
  await openAndClose(20);
  await Bun.sleep(2500); // two sweeps and more: a trickle is not a wave
  expect(await settles()).toBe(want);
});
