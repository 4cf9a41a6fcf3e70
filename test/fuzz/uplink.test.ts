/** Property-based fuzzing of the uplink decoder and of live sessions, bounded in runs. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import fc from "fast-check";
import { decodeUplink } from "../../src/protocol/frames.ts";
import { api, connect, startTest, waitFor } from "../helpers.ts";

const PROTOCOL_CODES = new Set([1009, 4400, 4401, 4403, 4429]);

/** Frames that look almost right: valid shapes with one part mutated. */
const nearFrame = fc.record(
  {
    t: fc.oneof(fc.constantFrom("HB", "AUTH", "JOIN", "PUSH", 0, 1, 2, 3, 4, -1, "", null), fc.anything()),
    type: fc.anything(),
    hb: fc.oneof(fc.constant({}), fc.anything()),
    auth: fc.oneof(fc.record({ token: fc.oneof(fc.string(), fc.anything()) }), fc.anything()),
    join: fc.oneof(fc.record({ rid: fc.oneof(fc.string(), fc.anything()) }), fc.anything()),
  },
  { requiredKeys: [] },
);

test("the decoder never throws and answers ok or a 4400 with a reason", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.json(),
        nearFrame.map((f) => JSON.stringify(f) ?? ""),
      ),
      (text) => {
        const d = decodeUplink(text);
        if (!d.ok) {
          expect(d.error.code).toBe(4400);
          expect(d.error.reason.length).toBeGreaterThan(0);
        } else {
          expect([0, 1, 2]).toContain(d.frame.t);
        }
      },
    ),
    { numRuns: 5000 },
  );
});

let server: Awaited<ReturnType<typeof startTest>>;
beforeAll(async () => {
  server = await startTest();
});
afterAll(() => server.stop());

test("random uplinks on live sessions end in a docs/protocol.md close code or nothing, and never hurt a bystander", async () => {
  const bystander = await connect(server, "bystander", { rid: "fuzz" });
  let tried = 0;
  const samples = fc.sample(
    fc.oneof(
      fc.string({ maxLength: 300 }),
      nearFrame.map((f) => JSON.stringify(f) ?? ""),
    ),
    300,
  );
  for (let i = 0; i < samples.length; i += 30) {
    const batch = samples.slice(i, i + 30);
    const clients = await Promise.all(batch.map((_, j) => connect(server, `fz-${i + j}`, { rid: "fuzz" })));
    for (const [j, text] of batch.entries()) clients[j]?.send(text);
    tried += batch.length;
    // Every client either stays or is closed with a code of docs/protocol.md.
    await Bun.sleep(30);
    for (const c of clients) {
      if (c.closeInfo) expect(PROTOCOL_CODES.has(c.closeInfo.code)).toBe(true);
      c.close();
    }
    await waitFor(() => server.hub.sessions.size === 1, "fuzzed sessions gone");
  }
  expect(tried).toBe(300);
  await api(server, "Broadcast", { rid: "fuzz", evt: "after the storm" });
  expect(await bystander.waitPushes(1)).toEqual(["after the storm"]);
  expect(bystander.closeInfo).toBeUndefined();
  bystander.close();
});
