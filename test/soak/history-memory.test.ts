/**
 * The history's byte budget holds in real memory: 10,000 users each sent 32 messages of 1 KiB
 * (320 MiB published through the HTTP Batch API) grow the server's heap by no more than
 * history.max_bytes. In process, so that the heap can be measured.
 */
import { expect, test } from "bun:test";
import { api, inProcess, quietSessions, startTest } from "../helpers.ts";

const USERS = 10_000;
const PER_USER = 32;
/** history.max_bytes's default. */
const MAX_BYTES = 64 * 1024 * 1024;

/** Collected twice, a tick apart, so that no request body still held by the stack is counted. */
const heapAfterGc = async () => {
  Bun.gc(true);
  await Bun.sleep(10);
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
};
/** Commands per request: small bodies, so that one left uncollected is noise, not a megabyte. */
const BATCH = 250;

test("10,000 users × 32 messages of 1 KiB stay within history.max_bytes, in the accounting and in the heap", async () => {
  const server = inProcess(await startTest(`history: {size: ${PER_USER}}`));
  try {
    const uids = Array.from({ length: USERS }, (_, i) => `mem-${i}`);
    await quietSessions(
      server,
      uids.map((uid) => ({ uid })),
    );
    const pad = "x".repeat(1024 - 16);
    // The same traffic to uids with no stream first (kept nowhere), so that what the HTTP path
    // itself allocates for good (compiled code, buffers) is in the baseline, not in the growth.
    for (let b = 0; b < 80; b++) {
      const commands = uids
        .slice(0, BATCH)
        .map((uid, i) => ({ publish: { uid: `warm-${uid}`, evt: `${String(i).padStart(16, "0")}${pad}` } }));
      expect((await api(server, "Batch", { commands })).status).toBe(200);
    }
    const heapStart = await heapAfterGc();
    let sent = 0;
    for (let round = 0; round < PER_USER; round++) {
      for (let from = 0; from < USERS; from += BATCH) {
        const commands = uids.slice(from, from + BATCH).map((uid, i) => ({
          // 1 KiB, each one different, so that no two messages share a string.
          publish: { uid, evt: `${String(round * USERS + from + i).padStart(16, "0")}${pad}` },
        }));
        const r = await api(server, "Batch", { commands });
        expect(r.status).toBe(200);
        sent += commands.length;
      }
    }
    expect(sent).toBe(USERS * PER_USER);
    const { history } = server.hub;
    expect(history.bytes).toBeLessThanOrEqual(MAX_BYTES);
    // The budget is used, not left empty by some other bound.
    expect(history.bytes).toBeGreaterThan(MAX_BYTES * 0.95);
    expect(history.evicted.max_bytes).toBe(USERS * PER_USER - history.entries);
    const grown = (await heapAfterGc()) - heapStart;
    console.log(
      `history: ${history.entries} messages kept, ${history.bytes} bytes counted; heap grew ${grown} bytes (budget ${MAX_BYTES})`,
    );
    expect(grown).toBeLessThanOrEqual(MAX_BYTES);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain(`comet_history_bytes ${history.bytes}\n`);
    expect(metrics).toContain(`comet_history_evicted_total{reason="max_bytes"} ${history.evicted.max_bytes}\n`);
  } finally {
    await server.stop();
  }
}, 120_000);
