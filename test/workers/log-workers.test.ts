/**
 * `comet serve --workers 2` with the shared log (history.store: redis, a real redis-server): a
 * worker killed with SIGKILL, its client reconnects to the other worker and recovers from the log;
 * with the memory store, the host warns once at start what to set.
 */
import { afterAll, expect, test } from "bun:test";
import { Client, token } from "../helpers.ts";
import { TestRedis } from "../broker/redis-server.ts";
import { positioned, reports } from "../broker/log-cluster.ts";
import { alive, call, type Host, hostEnv, startHost, until } from "./host.ts";

const hosts: Host[] = [];
const servers: TestRedis[] = [];

afterAll(async () => {
  for (const h of hosts) {
    h.proc.kill("SIGTERM");
    await Promise.race([h.proc.exited, Bun.sleep(5000)]);
    if (h.proc.exitCode === null) h.proc.kill("SIGKILL");
  }
  await Promise.all(servers.map((s) => s.stop()));
});

test("a worker killed with SIGKILL: its client reconnects to the other worker and recovers from the log", { timeout: 30_000 }, async () => {
  const redis = await TestRedis.start();
  servers.push(redis);
  const h = await startHost(
    ["--workers", "2"],
    hostEnv({ COMET_HISTORY_STORE: "redis", COMET_HISTORY_REDIS_URLS: redis.url }),
  );
  hosts.push(h);
  expect(h.lines().some((l) => l.level === "warn" && String(l.msg).includes("history.store is memory"))).toBe(false);
  const c = new Client(h.ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: await token("victim") }, join: { rid: "w-room" }, positions: true });
  const worker = (await h.line((l) => l.msg === "session start" && l.uid === "victim")).worker as number;
  await Bun.sleep(50);
  for (let i = 0; i < 3; i++) expect((await call(h, "Broadcast", { rid: "w-room", evt: `a${i}` })).status).toBe(200);
  await c.until(() => positioned(c).length >= 3, 5000, "3 pushes");
  const last = positioned(c).at(-1) as { epoch: string; seq: number };
  // The worker that holds the session dies at once, its clients cut.
  const pid = h.pid(worker);
  process.kill(pid, "SIGKILL");
  await c.closed;
  await until(() => !alive(pid), "the worker gone");
  for (let i = 3; i < 6; i++) {
    await until(async () => (await call(h, "Broadcast", { rid: "w-room", evt: `a${i}` })).status === 200, "a Broadcast");
  }
  const back = new Client(h.ws);
  await back.opened;
  back.send({
    t: "AUTH",
    auth: { token: await token("victim") },
    join: { rid: "w-room" },
    recover: { r: { epoch: last.epoch, seq: last.seq } },
  });
  await back.until(() => reports(back).length > 0, 5000, "the report");
  expect(reports(back)).toEqual([{ r: true }]);
  await back.until(() => positioned(back).length >= 3, 3000, "the replay");
  expect(positioned(back).map((p) => `${p.evt}@${p.seq}`)).toEqual(["a3@4", "a4@5", "a5@6"]);
  back.close();
});

test("--workers 2 with the memory store: one warning at start that says to set history.store: redis", { timeout: 20_000 }, async () => {
  const h = await startHost(["--workers", "2"], hostEnv());
  hosts.push(h);
  const warnings = h.lines().filter((l) => l.level === "warn" && String(l.msg).includes("history.store"));
  expect(warnings).toHaveLength(1);
  expect(warnings[0]?.msg).toContain("set history.store: redis");
  expect(warnings[0]?.worker).toBeUndefined();
});
