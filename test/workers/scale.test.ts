/**
 * `comet serve --workers 2` at the scale it is for: 30,000 authenticated WebSocket clients (more
 * than one process may hold here: the hard open-files limit is 20,000), held by three generator
 * processes (bench/gen.ts, 10,000 each). One world Broadcast reaches all; a Publish to each of 100
 * sampled uids, each taken by whichever worker the kernel gives, reaches its user once; DumpSession
 * counts 30,000; kill -9 of a worker costs only its own clients, which reconnect. Heavy: run it on
 * its own (WORKERS_SCALE_CLIENTS sets another size).
 */
import { afterAll, expect, test } from "bun:test";
import { makeEvt } from "../../bench/lib/evt.ts";
import { nowUs } from "../../bench/lib/clock.ts";
import { type Generator, startGenerator, stopProcess } from "../../bench/lib/procs.ts";
import { ADMIN, SECRET } from "../helpers.ts";
import { ROOT } from "../cli/run.ts";
import { alive, call, type Host, hostEnv, metric, startHost, until } from "./host.ts";

const CLIENTS = Number(process.env.WORKERS_SCALE_CLIENTS ?? 30_000);
const PER_GENERATOR = 10_000;
const SAMPLED = 100;

let h: Host | undefined;
const gens: Generator[] = [];
afterAll(async () => {
  await Promise.all(gens.map((g) => stopProcess(g.proc)));
  if (h) {
    const pids = [h.pid(1), h.pid(2)];
    h.proc.kill("SIGKILL");
    for (const p of pids) if (p > 0 && alive(p)) process.kill(p, "SIGKILL");
  }
});

interface Stats {
  received: number;
  upgraded: number;
  seq_count: number[];
  closes: Record<string, number>;
}

const all = <T>(cmd: string, args: Record<string, unknown> = {}, ms = 120_000) =>
  Promise.all(gens.map((g) => g.ch.call<T & Record<string, unknown>>(cmd, args, ms)));

const totals = async () => {
  const s = await all<Stats>("stats");
  const seq = new Array<number>(SAMPLED + 1).fill(0);
  for (const g of s) {
    for (const [i, n] of g.seq_count.entries()) seq[i] = (seq[i] as number) + n;
  }
  return {
    received: s.reduce((n, g) => n + g.received, 0),
    upgraded: s.reduce((n, g) => n + g.upgraded, 0),
    seq,
    closes: s.map((g) => g.closes),
  };
};

const dumpCount = async (host: Host) => {
  const res = await call(host, "DumpSession", {});
  expect(res.status).toBe(200);
  return ((await res.json()) as { world: unknown[] }).world.length;
};

/** One world Broadcast (seq 0) and a Publish (seq k) to each sampled uid, each on a new connection. */
async function pushAll(host: Host, sampled: number[]): Promise<void> {
  await all("reset", { seqs: SAMPLED + 1 });
  expect((await call(host, "Broadcast", { evt: makeEvt(0, nowUs()) })).status).toBe(200);
  for (const [k, i] of sampled.entries()) {
    const res = await fetch(`${host.url}/comet/Comet/Publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, connection: "close" },
      body: JSON.stringify({ uid: `u${i}`, evt: makeEvt(k + 1, nowUs()) }),
    });
    expect(res.status).toBe(200);
  }
  await until(async () => (await totals()).received >= CLIENTS + SAMPLED, "every delivery", 120_000);
  await Bun.sleep(500);
  const t = await totals();
  expect(t.received).toBe(CLIENTS + SAMPLED);
  expect(t.seq[0]).toBe(CLIENTS);
  expect(t.seq.slice(1)).toEqual(new Array(SAMPLED).fill(1));
}

test(`--workers 2 with ${CLIENTS} clients over ${Math.ceil(CLIENTS / PER_GENERATOR)} generator processes: broadcast, publish, DumpSession, kill -9`, async () => {
  h = await startHost(
    ["--workers", "2"],
    hostEnv({
      COMET_LOG_LEVEL: "info",
      COMET_SHUTDOWN_DRAIN: "2s",
      // No limits.max_connections: each worker is a process under the 20,000 open-files limit, and
      // its limit is derived from it (19,536). When one dies, its clients come back spread over
      // both by the kernel; the other, full, leaves the listening group, and a connect that
      // reached it in the meantime is refused 4503 and retries, never left hanging.
    }),
  );
  const host = h;
  for (let from = 0; from < CLIENTS; from += PER_GENERATOR) {
    gens.push(await startGenerator(ROOT, `gen${gens.length}`, 900));
  }
  const t0 = Date.now();
  await Promise.all(
    gens.map((g, k) =>
      g.ch.call(
        "subscribers",
        {
          host: "127.0.0.1",
          port: host.port,
          path: "/comet/Comet/Subscribe",
          from: k * PER_GENERATOR,
          count: Math.min(PER_GENERATOR, CLIENTS - k * PER_GENERATOR),
          secret: SECRET,
          rid: "",
          concurrency: 128,
        },
        300_000,
      ),
    ),
  );
  await until(async () => (await metric(host, "comet_sessions")) === CLIENTS, "every session", 120_000);
  const perWorker: [number, number] = [
    await metric(host, 'comet_worker_connections{worker="1"}'),
    await metric(host, 'comet_worker_connections{worker="2"}'),
  ];
  console.log(JSON.stringify({ clients: CLIENTS, connect_ms: Date.now() - t0, per_worker: perWorker }));
  expect(perWorker[0] + perWorker[1]).toBe(CLIENTS);
  // The kernel spreads them: neither worker holds more than a process could (nor all of them).
  expect(Math.min(...perWorker)).toBeGreaterThan(CLIENTS / 4);
  expect(await dumpCount(host)).toBe(CLIENTS);

  const sampled = Array.from({ length: SAMPLED }, (_, k) => Math.floor(((k + 0.5) * CLIENTS) / SAMPLED));
  await pushAll(host, sampled);

  // kill -9 of worker 1: exactly its clients are cut; nobody else sees a thing.
  const victim = host.pid(1);
  const held = perWorker[0] as number;
  await all("reset", { seqs: SAMPLED + 1 });
  process.kill(victim, "SIGKILL");
  await until(async () => (await totals()).upgraded === CLIENTS - held, "worker 1's clients cut", 30_000);
  await host.line((l) => l.msg === "worker listening" && l.worker === 1 && l.pid !== victim, 10_000);
  await Bun.sleep(1000);
  const after = await totals();
  expect(after.upgraded).toBe(CLIENTS - held);
  // No close frame reached anyone: the worker's sockets died with it, the others' never closed.
  expect(after.closes.every((c) => Object.keys(c).length === 0)).toBe(true);

  // They reconnect (as the SDK does) and the host is whole again. A client refused 4503 (its
  // worker full, before it left the group) tries again, as the SDK does.
  for (let round = 0; round < 20 && (await totals()).upgraded < CLIENTS; round++) {
    await all("reconnect", { concurrency: 128 }, 120_000);
    await Bun.sleep(200);
  }
  await until(async () => (await metric(host, "comet_sessions")) === CLIENTS, "every session back", 120_000);
  const said = (msg: string) => host.lines().filter((l) => l.msg === msg).length;
  console.log(
    JSON.stringify({
      back: [
        await metric(host, 'comet_worker_connections{worker="1"}'),
        await metric(host, 'comet_worker_connections{worker="2"}'),
      ],
      full_left: said("full worker leaves the listening group"),
      refused_4503: await metric(host, 'comet_connections_rejected_total{reason="max_connections"}'),
    }),
  );
  expect(await dumpCount(host)).toBe(CLIENTS);
  await pushAll(host, sampled);

  await all("close");
  host.proc.kill("SIGTERM");
  expect(await host.proc.exited).toBe(0);
}, 900_000);
