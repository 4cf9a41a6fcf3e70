/**
 * Workers take only what they can hold (issue 30): limits.max_connections per worker, 0 derived
 * from the open-file limit; a full worker leaves the listening group so the kernel gives new
 * connections to the others, and takes them again below 90%; when every worker is full, the last
 * one listening refuses 4503 at once. Real processes, real sockets; the rules of who listens also
 * as a unit (src/workers/listening.ts).
 */
import { afterEach, describe, expect, test } from "bun:test";
import { Capacity, effectiveMax, ownFiles } from "../../src/gateway/capacity.ts";
import { parseLimits } from "../../src/util/open-files.ts";
import { type Member, rebalance } from "../../src/workers/listening.ts";
import { Client, token } from "../helpers.ts";
import { SOURCE, start } from "../cli/run.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";
import { alive, call, type Host, hostEnv, type Line, metric, startHost, until } from "./host.ts";

const hosts: Host[] = [];
const clients: Client[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const h of hosts.splice(0)) {
    const pids = [1, 2].map((n) => h.pid(n)).filter((p) => p > 0);
    h.proc.kill("SIGKILL");
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
    await h.proc.exited;
  }
});

// The lone process's test runs on Deno too (COMET_TEST_RUNTIME=deno); workers > 1 is Bun's only.
if (TEST_RUNTIME !== "deno") {
  describe("the limit", () => {
    test("0 is the soft open-file limit less the process's own files; no limit when there is none", () => {
      const text = [
        "Limit                     Soft Limit           Hard Limit           Units     ",
        "Max processes             63504                63504                processes ",
        "Max open files            20000                524288               files     ",
      ].join("\n");
      expect(parseLimits(text)).toBe(20_000);
      expect(parseLimits(text.replace("20000  ", "unlimited"))).toBeUndefined();
      expect(ownFiles(20_000)).toBe(464);
      expect(effectiveMax(0, 20_000)).toBe(19_536);
      expect(effectiveMax(0, 1024)).toBe(1024 - 64 - 21);
      expect(effectiveMax(0, undefined)).toBe(0);
      expect(effectiveMax(500, 20_000)).toBe(500);
    });

    test("full at the limit, room again at 90% of it, each said once", () => {
      const c = new Capacity(40);
      const said: string[] = [];
      c.watcher = { full: () => said.push("full"), room: () => said.push("room") };
      for (let open = 1; open <= 40; open++) {
        expect(c.fits(open - 1)).toBe(true);
        c.opened(open);
      }
      expect(c.fits(40)).toBe(false);
      for (const open of [39, 38, 37]) c.closed(open);
      expect(said).toEqual(["full"]);
      c.closed(36);
      c.opened(37);
      c.closed(36);
      expect(said).toEqual(["full", "room"]);
      expect(new Capacity(0).fits(1e9)).toBe(true);
    });
  });

  describe("who listens", () => {
    const workers = (n: number): Member[] =>
      Array.from({ length: n }, (_, i) => ({ n: i + 1, up: true, full: false, paused: false }));

    test("a full worker leaves while another listens; the last one listening stays, full or not", () => {
      const w = workers(2);
      (w[0] as Member).full = true;
      expect(rebalance(w)).toEqual([{ n: 1, t: "leave" }]);
      (w[1] as Member).full = true;
      expect(rebalance(w)).toEqual([]);
      // Both full at once: one leaves, one stays.
      const both = workers(2);
      for (const m of both) m.full = true;
      expect(rebalance(both)).toEqual([{ n: 1, t: "leave" }]);
    });

    test("one with room again lets the full one that stayed leave; a death makes a full one listen again", () => {
      const w = workers(3);
      for (const m of w) m.full = true;
      expect(rebalance(w)).toEqual([
        { n: 1, t: "leave" },
        { n: 2, t: "leave" },
      ]);
      Object.assign(w[0] as Member, { full: false, paused: false });
      expect(rebalance(w)).toEqual([{ n: 3, t: "leave" }]);
      Object.assign(w[0] as Member, { up: false });
      expect(rebalance(w)).toEqual([{ n: 2, t: "rejoin" }]);
      expect(w.map((m) => m.paused)).toEqual([false, false, true]);
    });
  });

  type Login = { worker: number; client: Client };
  type Try = Login | { refused: number; ms: number };

  /** Connects and sends AUTH: the worker whose session started, or the close code that refused it. */
  async function tryLogin(h: Host, uid: string): Promise<Try> {
    const isStart = (l: Line) => l.msg === "session start" && l.uid === uid;
    const t0 = Date.now();
    const client = new Client(h.ws);
    clients.push(client);
    await client.opened;
    client.send({ t: "AUTH", auth: { token: await token(uid) } });
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await Bun.sleep(5)) {
      const started = h.lines().find(isStart);
      if (started) return { worker: started.worker as number, client };
      if (client.closeInfo) return { refused: client.closeInfo.code, ms: Date.now() - t0 };
    }
    throw new Error(`${uid}: neither a session nor a close within 10 s`);
  }

  const MAX = 40;

  /**
   * Logs in 2 x MAX users one at a time: a worker that reaches MAX leaves, the other takes the rest.
   * When one is full the test waits for it to have left: a connect that comes while its word goes to
   * the supervisor and back (two messages on a pipe) may still reach it and be refused 4503, as a
   * lone instance refuses at its limit; what is tested is the group's behaviour, not that moment.
   */
  async function fill(
    h: Host,
  ): Promise<{ counts: Record<number, number>; first: number; last: number; logins: Login[] }> {
    const counts: Record<number, number> = { 1: 0, 2: 0 };
    const logins: Login[] = [];
    let first = 0;
    for (let i = 0; i < 2 * MAX; i++) {
      const got = await tryLogin(h, `f${i}`);
      if (!("worker" in got)) throw new Error(`f${i} refused ${got.refused} with ${counts[1]}/${counts[2]} held`);
      logins.push(got);
      counts[got.worker] = (counts[got.worker] as number) + 1;
      if (counts[got.worker] === MAX && first === 0) {
        first = got.worker;
        await h.line((l) => l.msg.startsWith("worker full: stopped accepting") && l.worker === first);
      }
    }
    return { counts, first, last: 3 - first, logins };
  }

  /** How many sockets listen on a loopback port: the workers in its SO_REUSEPORT group. */
  function listeners(port: number): number {
    const out = Bun.spawnSync(["ss", "-Hltn", `sport = :${port}`]).stdout.toString();
    return out.split("\n").filter((l) => l.trim() !== "").length;
  }

  /** The host's ports: HTTP and gRPC. */
  function ports(h: Host): [number, number] {
    const up = h.lines().find((l) => l.msg === "listening" && l.worker === undefined);
    return [h.port, Number(/:(\d+)$/.exec(String(up?.grpc))?.[1])];
  }

  const limited = () => hostEnv({ COMET_LIMITS_MAX_CONNECTIONS: String(MAX), COMET_GRPC_LISTEN: "127.0.0.1:0" });

  const readyz = async (h: Host) => {
    const res = await fetch(`${h.url}/readyz`);
    return { status: res.status, body: await res.json() };
  };

  describe("comet serve --workers 2 with limits.max_connections", () => {
    test(`a worker at its limit (${MAX}) leaves the group: ${2 * MAX} users one at a time all get in, ${MAX} on each`, async () => {
      const h = await startHost(["--workers", "2"], limited());
      hosts.push(h);
      expect(await metric(h, "comet_connections_max")).toBe(2 * MAX);
      expect(ports(h).map(listeners)).toEqual([2, 2]);
      const { counts, first, last, logins } = await fill(h);
      expect(counts).toEqual({ 1: MAX, 2: MAX });
      expect(await metric(h, `comet_worker_full{worker="${first}"}`)).toBe(1);
      expect(await metric(h, `comet_worker_full{worker="${last}"}`)).toBe(1);
      expect(await metric(h, `comet_worker_connections{worker="${first}"}`)).toBe(MAX);
      expect(await metric(h, 'comet_connections_rejected_total{reason="max_connections"}')).toBe(0);
      // The one full first left the group; the other, full last, stayed: nobody else listens.
      expect(h.lines().filter((l) => l.msg === "full worker leaves the listening group")).toMatchObject([
        { worker: first },
      ]);
      // Its HTTP and gRPC sockets left; the connections it holds are still served.
      expect(ports(h).map(listeners)).toEqual([1, 1]);
      expect((await call(h, "Broadcast", { evt: "to all" })).status).toBe(200);
      await Promise.all(logins.map((l) => l.client.waitPushes(1, 5000)));
    }, 60_000);

    test("every worker full: each extra connect is refused 4503 within a second, /readyz says so; one with room again takes them", async () => {
      const h = await startHost(["--workers", "2"], limited());
      hosts.push(h);
      const { first, last, logins } = await fill(h);
      const extra = await Promise.all(Array.from({ length: 10 }, (_, i) => tryLogin(h, `x${i}`)));
      for (const e of extra) {
        expect("refused" in e && e.refused).toBe(4503);
        expect("ms" in e && e.ms).toBeLessThan(1000);
      }
      expect(await readyz(h)).toEqual({
        status: 503,
        body: {
          status: "not ready",
          reason: "every worker is full (limits.max_connections): new connections are refused",
          full: [1, 2],
        },
      });

      // Down to 90% on the worker that left: it listens again, and the one that stayed leaves.
      const leaving = MAX - Math.floor(MAX * 0.9);
      for (const l of logins.filter((l) => l.worker === first).slice(0, leaving)) l.client.close();
      await h.line((l) => l.msg === "worker accepting again" && l.worker === first);
      await h.line((l) => l.msg === "full worker leaves the listening group" && l.worker === last);
      // Short of its limit again, so that it is not full again.
      const again = [];
      for (let i = 0; i < leaving - 1; i++) again.push(await tryLogin(h, `y${i}`));
      expect(again.map((a) => ("worker" in a ? a.worker : a))).toEqual(new Array(leaving - 1).fill(first));
      expect(await readyz(h)).toEqual({ status: 200, body: { status: "ready", full: [last] } });
      expect(ports(h).map(listeners)).toEqual([1, 1]);
      // A world broadcast reaches the sockets of the server that paused and of the one that resumed.
      const live = [...logins, ...again].flatMap((l) => ("client" in l && !l.client.closeInfo ? [l.client] : []));
      expect(live.length).toBe(2 * MAX - 1);
      expect((await call(h, "Broadcast", { evt: "after" })).status).toBe(200);
      for (const c of live) expect(await c.waitPushes(1, 5000)).toEqual(["after"]);
    }, 60_000);
  });
}

test("a lone process at the limit derived from its open-file limit (ulimit -n 200) refuses 4503 at once", async () => {
  const limited = {
    ...SOURCE,
    argv: () => ["sh", "-c", 'ulimit -n 200 && exec "$@"', "sh", ...SOURCE.argv()],
  };
  const s = start(limited, ["serve", "--listen", "127.0.0.1:0"], { env: hostEnv() });
  try {
    await s.stderr.until('"msg":"listening"', 20_000);
    const port = Number(/"listen":"[^"]*:(\d+)"/.exec(s.stderr.text)?.[1]);
    const h = { url: `http://127.0.0.1:${port}` } as Host;
    const max = 200 - ownFiles(200);
    expect(await metric(h, "comet_connections_max")).toBe(max);
    const held = Array.from({ length: max }, () => new Client(`ws://127.0.0.1:${port}/comet/Comet/Subscribe`));
    clients.push(...held);
    await Promise.all(held.map((c) => c.opened));
    await until(async () => (await metric(h, "comet_connections")) === max, "every connection held");
    const t0 = Date.now();
    const extra = Array.from({ length: 5 }, () => new Client(`ws://127.0.0.1:${port}/comet/Comet/Subscribe`));
    clients.push(...extra);
    for (const c of extra) expect((await c.waitClose(1000)).code).toBe(4503);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect((await fetch(`${h.url}/readyz`)).status).toBe(200);
  } finally {
    s.proc.kill("SIGKILL");
    await s.proc.exited;
  }
}, 30_000);
