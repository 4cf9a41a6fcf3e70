/**
 * Soak: thousands of clients joining, leaving, reconnecting and being published to, bounded in
 * time (SOAK_SECONDS, default 15; SOAK_CLIENTS, default 2000). The server runs here so that its
 * state and heap can be inspected; the load runs in a process of its own.
 */
import { expect, test } from "bun:test";
import { ADMIN, api, inProcess, SECRET, startTest, waitFor } from "../helpers.ts";

const SECONDS = Number(process.env.SOAK_SECONDS ?? 15);
const CLIENTS = Number(process.env.SOAK_CLIENTS ?? 2000);

const heapAfterGc = () => {
  Bun.gc(true);
  return process.memoryUsage().heapUsed;
};

test(
  "soak: churned clients leave zero sessions, rooms and connections, and the heap returns near its start",
  async () => {
    const server = inProcess(await startTest("heartbeat: {interval: 5s}"));
    try {
      const heapStart = heapAfterGc();
      const rssStart = process.memoryUsage().rss;
      const load = Bun.spawn([process.execPath, new URL("./churn.ts", import.meta.url).pathname], {
        env: { ...process.env, URL: server.url, CLIENTS: String(CLIENTS), SECONDS: String(SECONDS), SECRET, ADMIN },
        stdout: "pipe",
        stderr: "inherit",
      });
      let peakSessions = 0;
      const sampler = setInterval(() => {
        peakSessions = Math.max(peakSessions, server.hub.sessions.size);
      }, 100);
      const out = await new Response(load.stdout).text();
      clearInterval(sampler);
      expect(await load.exited).toBe(0);
      const totals = JSON.parse(out.trim().split("\n").at(-1) as string);
      await waitFor(() => server.gateway.connections.size === 0, "all connections closed", 10_000);
      const dump = await api(server, "DumpSession", {});
      const heapEnd = heapAfterGc();
      const rssEnd = process.memoryUsage().rss;
      console.log(
        JSON.stringify({
          soak: { seconds: SECONDS, clients: CLIENTS, peakSessions, ...totals },
          heapStartMiB: +(heapStart / 2 ** 20).toFixed(1),
          heapEndMiB: +(heapEnd / 2 ** 20).toFixed(1),
          rssStartMiB: +(rssStart / 2 ** 20).toFixed(1),
          rssEndMiB: +(rssEnd / 2 ** 20).toFixed(1),
        }),
      );
      expect(totals.connects).toBeGreaterThan(CLIENTS);
      expect(totals.pushes).toBeGreaterThan(0);
      expect(totals.unexpected).toBe(0);
      expect(peakSessions).toBeGreaterThan(CLIENTS / 4);
      expect(dump.json).toEqual({ world: [], rooms: [] });
      expect(server.hub.sessions.size).toBe(0);
      expect(server.hub.rooms.size).toBe(0);
      server.gateway.sweep(Date.now() + 2000);
      expect((server.gateway.admitter as unknown as { recent: Map<string, unknown> }).recent.size).toBe(0);
      expect(heapEnd - heapStart).toBeLessThan(16 * 2 ** 20);
    } finally {
      await server.stop();
    }
  },
  (SECONDS + 60) * 1000,
);
