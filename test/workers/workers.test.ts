/**
 * `comet serve --workers N`: a supervisor and its workers as real processes, real WebSockets and
 * HTTP on the port they share. Under Deno the start is refused, and that is what the Deno run tests.
 */
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { availableParallelism } from "node:os";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN } from "../helpers.ts";
import { BUILD_TIMEOUT_MS, CLIS, oneLine, run, SOURCE } from "../cli/run.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";
import { alive, call, type Host, hostEnv, type Line, login, metric, startHost, until } from "./host.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-workers-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Hosts a test started; whatever is left running after it is killed, workers included. */
const hosts: Host[] = [];
afterEach(async () => {
  for (const h of hosts.splice(0)) {
    const pids = [1, 2, 3].map((n) => h.pid(n)).filter((p) => p > 0);
    h.proc.kill("SIGKILL");
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
    await h.proc.exited;
  }
});
const host = async (...args: Parameters<typeof startHost>) => {
  const h = await startHost(...args);
  hosts.push(h);
  return h;
};

const workersOf = (logins: Array<{ worker: number }>) => new Set(logins.map((l) => l.worker));

if (TEST_RUNTIME === "deno") {
  test("workers > 1 on Deno stops the start with a message that says so", async () => {
    const r = await run(SOURCE, ["serve", "--listen", "127.0.0.1:0", "--workers", "2"], { env: hostEnv() });
    expect(r.code).toBe(2);
    expect(oneLine(r.stderr)).toContain("worker processes are served on Bun only");
  });
} else {
  describe.each(CLIS.map((cli) => [cli.name, cli] as const))("comet serve --workers 2 (%s)", (_name, cli) => {
    test(
      "two workers share the port; the kernel spreads the clients; a Publish and a world Broadcast reach each user once, whichever worker took the call",
      async () => {
        await cli.prepare();
        const h = await host(["--workers", "2"], hostEnv(), cli);
        const ups = h.lines().filter((l) => l.msg === "listening" && l.worker !== undefined);
        expect(new Set(ups.map((l) => l.worker))).toEqual(new Set([1, 2]));
        expect(new Set(ups.map((l) => l.listen))).toEqual(new Set([`127.0.0.1:${h.port}`]));
        expect(h.pid(1)).not.toBe(h.pid(2));

        const users = Array.from({ length: 24 }, (_, i) => `u${i}`);
        const logins = await Promise.all(users.map((u, i) => login(h, u, i % 2 === 0 ? "even" : undefined)));
        expect(workersOf(logins)).toEqual(new Set([1, 2]));
        // Each API call on a new connection, so that both workers take some.
        for (const u of users) {
          const res = await fetch(`${h.url}/comet/Comet/Publish`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN}`, connection: "close" },
            body: JSON.stringify({ uid: u, evt: `to ${u}` }),
          });
          expect(res.status).toBe(200);
        }
        await Promise.all(
          logins.map((l, i) => l.client.waitPushes(1, 5000).then((p) => expect(p).toEqual([`to u${i}`]))),
        );
        expect((await call(h, "Broadcast", { evt: "everyone" })).status).toBe(200);
        await Promise.all(logins.map((l) => l.client.waitPushes(2, 5000)));
        await Bun.sleep(300);
        for (const [i, l] of logins.entries()) expect(l.client.pushes()).toEqual([`to u${i}`, "everyone"]);

        // DumpSession to any worker lists the host's sessions, in Hub.dump's order.
        for (let i = 0; i < 4; i++) {
          const res = await fetch(`${h.url}/comet/Comet/DumpSession`, {
            method: "POST",
            headers: { authorization: `Bearer ${ADMIN}`, connection: "close" },
            body: JSON.stringify({ transport: true }),
          });
          const dump = (await res.json()) as {
            world: Array<{ uid: string; rid: string; birth: string; transport: string }>;
            rooms: Array<{ rid: string; room: Array<{ uid: string }> }>;
          };
          expect(dump.world.map((s) => s.uid).sort()).toEqual([...users].sort());
          const births = dump.world.map((s) => s.birth);
          expect(births).toEqual([...births].sort().reverse());
          expect(dump.world.every((s) => s.transport === "websocket")).toBe(true);
          expect(dump.rooms.map((r) => r.rid)).toEqual(["even"]);
          expect(dump.rooms[0]?.room.map((s) => s.uid).sort()).toEqual(users.filter((_, i) => i % 2 === 0).sort());
        }
        expect(await metric(h, "comet_sessions")).toBe(24);
        expect(await metric(h, 'comet_worker_up{worker="1"}')).toBe(1);
        expect(await metric(h, 'comet_worker_up{worker="2"}')).toBe(1);
        expect(await metric(h, "comet_workers")).toBe(2);
        const ready = await fetch(`${h.url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({ status: "ready" });
        for (const l of logins) l.client.close();
      },
      BUILD_TIMEOUT_MS + 30_000,
    );
  });

  describe("comet serve --workers", () => {
    test("one session per uid across the workers: a login on one worker closes the session on the other 4409", async () => {
      const h = await host(["--workers", "2"]);
      let previous = await login(h, "same");
      let crossed = 0;
      for (let i = 0; i < 30 && crossed < 2; i++) {
        const next = await login(h, "same");
        expect((await previous.client.waitClose(5000)).code).toBe(4409);
        if (next.worker !== previous.worker) crossed++;
        previous = next;
      }
      expect(crossed).toBe(2);
      await Bun.sleep(500);
      expect(previous.client.closeInfo).toBeUndefined();
      expect((await call(h, "Publish", { uid: "same", evt: "still here" })).status).toBe(200);
      expect(await previous.client.waitPushes(1, 5000)).toEqual(["still here"]);
    }, 60_000);

    test("kill -9 of a worker: restarted within 2 s; only its clients are cut, and they reconnect; the others notice nothing", async () => {
      const h = await host(["--workers", "2"]);
      const logins = await Promise.all(Array.from({ length: 16 }, (_, i) => login(h, `k${i}`)));
      expect(workersOf(logins)).toEqual(new Set([1, 2]));
      const victim = h.pid(1);
      const killedAt = Date.now();
      process.kill(victim, "SIGKILL");
      const back = await h.line((l) => l.msg === "worker listening" && l.worker === 1 && l.pid !== victim, 5000);
      expect(Date.now() - killedAt).toBeLessThan(2000);
      expect(back.pid).not.toBe(victim);
      const died = await h.line((l) => l.msg === "worker died: restarting");
      expect(died).toMatchObject({ worker: 1, pid: victim, signal: "SIGKILL", restart_in_ms: 100, level: "warn" });

      const cut = logins.filter((l) => l.worker === 1);
      const kept = logins.filter((l) => l.worker === 2);
      for (const l of cut) expect((await l.client.waitClose(5000)).code).toBe(1006);
      for (const l of kept) expect(l.client.closeInfo).toBeUndefined();
      // The cut clients reconnect (as the SDK does) and are reached again, wherever they land.
      const again = await Promise.all(cut.map((l) => login(h, `k${logins.indexOf(l)}`)));
      expect((await call(h, "Broadcast", { evt: "after" })).status).toBe(200);
      for (const l of [...kept, ...again]) expect(await l.client.waitPushes(1, 5000)).toEqual(["after"]);
      expect(await metric(h, "comet_sessions")).toBe(16);
      expect(await metric(h, 'comet_worker_restarts_total{worker="1"}')).toBe(1);
      for (const l of [...kept, ...again]) l.client.close();
    }, 60_000);

    test("a crash loop backs off (100, 200, 400 ms ...) and is logged as one, and /readyz says which worker is down meanwhile", async () => {
      const h = await host(["--workers", "2"]);
      const delays: number[] = [];
      for (let i = 0; i < 3; i++) {
        process.kill(h.pid(1), "SIGKILL");
        const died = await h.line((l) => l.msg.startsWith("worker") && "restart_in_ms" in l, 5000, i);
        delays.push(died.restart_in_ms as number);
        if (i < 2) {
          expect(died.level).toBe("warn");
          await h.line((l) => l.msg === "worker listening" && l.worker === 1, 5000, i + 1);
        } else {
          expect(died).toMatchObject({
            level: "error",
            msg: "worker crash loop: restarts backed off",
            deaths_in_a_row: 3,
          });
          // 400 ms before it is back: the host is not ready, and says why.
          const res = await fetch(`${h.url}/readyz`);
          expect(res.status).toBe(503);
          expect(await res.json()).toEqual({ status: "not ready", reason: "worker 1 is not running" });
        }
      }
      expect(delays).toEqual([100, 200, 400]);
      await h.line((l) => l.msg === "worker listening" && l.worker === 1, 5000, 3);
      await until(async () => (await fetch(`${h.url}/readyz`)).status === 200, "ready again");
    }, 30_000);

    test("SIGTERM drains every worker's sessions (1001) over shutdown.drain and exits 0", async () => {
      const h = await host(["--workers", "2"], hostEnv({ COMET_SHUTDOWN_DRAIN: "1s" }));
      const logins = await Promise.all(Array.from({ length: 12 }, (_, i) => login(h, `d${i}`)));
      expect(workersOf(logins)).toEqual(new Set([1, 2]));
      const pids = [h.pid(1), h.pid(2)];
      const t0 = Date.now();
      h.proc.kill("SIGTERM");
      const closes = await Promise.all(logins.map((l) => l.client.waitClose(5000)));
      expect(closes.every((c) => c.code === 1001)).toBe(true);
      const r = await h.finish();
      expect(r.code).toBe(0);
      expect(Date.now() - t0).toBeLessThan(5000);
      const drained = h.lines().filter((l) => l.msg === "drained");
      expect(new Set(drained.map((l) => l.worker))).toEqual(new Set([1, 2]));
      expect(drained.reduce((n, l) => n + (l.sessions as number), 0)).toBe(12);
      for (const p of pids) expect(alive(p)).toBe(false);
    }, 30_000);

    test("a second signal exits at once, the workers with it", async () => {
      const h = await host(["--workers", "2"], hostEnv({ COMET_SHUTDOWN_DRAIN: "30s" }));
      const logins = await Promise.all(Array.from({ length: 8 }, (_, i) => login(h, `s${i}`)));
      const pids = [h.pid(1), h.pid(2)];
      h.proc.kill("SIGINT");
      await h.line((l) => l.msg === "draining", 5000, 1);
      const t0 = Date.now();
      h.proc.kill("SIGINT");
      expect(await h.proc.exited).toBe(130);
      expect(Date.now() - t0).toBeLessThan(1000);
      await until(() => pids.every((p) => !alive(p)), "the workers gone", 2000);
      for (const l of logins) expect(l.client.closeInfo === undefined || l.client.closeInfo.code !== 1000).toBe(true);
    }, 30_000);

    test("SIGHUP reloads every worker", async () => {
      const file = join(dir, "hup.yaml");
      const other = "another-admin-token-0123456789";
      writeFileSync(file, `admin:\n  tokens: [${ADMIN}]\n`);
      const env = hostEnv();
      delete env.COMET_ADMIN_TOKENS;
      const h = await host(["--workers", "2", "--config", file], env);
      writeFileSync(file, `admin:\n  tokens: [${other}]\n`);
      h.proc.kill("SIGHUP");
      // The spare (a worker started ahead, not listening) reloads too; the workers are 1 and 2.
      const reloaded = (l: Line) => l.msg === "config reloaded" && typeof l.worker === "number";
      const a = await h.line(reloaded, 5000, 0);
      const b = await h.line(reloaded, 5000, 1);
      expect(new Set([a.worker, b.worker])).toEqual(new Set([1, 2]));
      // On fresh connections, so both workers answer: the old token is refused everywhere.
      for (let i = 0; i < 8; i++) {
        const old = await fetch(`${h.url}/comet/Comet/DumpSession`, {
          method: "POST",
          headers: { authorization: `Bearer ${ADMIN}`, connection: "close" },
        });
        expect(old.status).toBe(401);
        const now = await fetch(`${h.url}/comet/Comet/DumpSession`, {
          method: "POST",
          headers: { authorization: `Bearer ${other}`, connection: "close" },
        });
        expect(now.status).toBe(200);
      }
    }, 30_000);

    test("the workers do not outlive their supervisor", async () => {
      const h = await host(["--workers", "2"]);
      const pids = [h.pid(1), h.pid(2)];
      h.proc.kill("SIGKILL");
      await until(() => pids.every((p) => !alive(p)), "the workers gone", 5000);
    }, 30_000);

    test("gRPC shares its port too, and workers: 0 in the file is one worker per CPU", async () => {
      const file = join(dir, "cpu.yaml");
      writeFileSync(file, "workers: 0\ngrpc:\n  listen: 127.0.0.1:0\n");
      const h = await host(["--config", file]);
      const cpus = availableParallelism();
      const up = h.lines().find((l) => l.msg === "listening" && l.worker === undefined);
      expect(up?.workers).toBe(cpus);
      const grpcs = h.lines().filter((l) => l.msg === "listening" && l.worker !== undefined);
      expect(grpcs.length).toBe(cpus);
      expect(new Set(grpcs.map((l) => l.grpc))).toEqual(new Set([up?.grpc]));
      expect(up?.grpc).toMatch(/^127\.0\.0\.1:\d+$/);
    }, 30_000);

    test("--dev with workers: one banner, the same generated secrets in every worker", async () => {
      const h = await host(["--dev", "--workers", "2"], {});
      const banner = h.stderr.text;
      expect(banner).toContain("2 worker processes share these ports");
      const admin = /admin token \(API\):\s+(\S+)/.exec(banner)?.[1] as string;
      expect(banner.match(/COMET DEV MODE/g)?.length).toBe(1);
      for (let i = 0; i < 8; i++) {
        const res = await fetch(`${h.url}/comet/Comet/DumpSession`, {
          method: "POST",
          headers: { authorization: `Bearer ${admin}`, connection: "close" },
        });
        expect(res.status).toBe(200);
      }
    }, 30_000);
  });

  describe("comet serve --workers: refusals", () => {
    test("a --workers that is not a whole number of 0 or more, or a bad workers key, stops the start", async () => {
      for (const bad of ["two", "-1", "1.5", ""]) {
        const r = await run(SOURCE, ["serve", "--listen", "127.0.0.1:0", "--workers", bad], { env: hostEnv() });
        expect(r.code).toBe(2);
        expect(oneLine(r.stderr)).toContain("--workers");
      }
      const file = join(dir, "bad-workers.yaml");
      writeFileSync(file, "workers: many\n");
      const r = await run(SOURCE, ["serve", "--config", file], { env: hostEnv() });
      expect(r.code).toBe(2);
      expect(oneLine(r.stderr)).toContain('config: workers: expected a whole number, got "many"');
    });

    test("a port already held, even with SO_REUSEPORT, stops the start: address in use", async () => {
      const held = net.createServer();
      await new Promise<void>((resolve) =>
        held.listen({ host: "127.0.0.1", port: 0, reusePort: true }, () => resolve()),
      );
      const port = (held.address() as net.AddressInfo).port;
      try {
        const r = await run(SOURCE, ["serve", "--listen", `127.0.0.1:${port}`, "--workers", "2"], { env: hostEnv() });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`serve: cannot listen on 127.0.0.1:${port}: address in use`);
        expect(r.stderr).not.toContain("worker listening");
      } finally {
        held.close();
      }
    });

    test("a worker that cannot start fails the start with its status, and no worker is left", async () => {
      const r = await run(SOURCE, ["serve", "--listen", "127.0.0.1:0", "--workers", "2"], {
        env: hostEnv({ COMET_TLS_CERT_FILE: join(dir, "absent.pem"), COMET_TLS_KEY_FILE: join(dir, "absent.key") }),
      });
      // A config the worker refuses exits it 2, and the host with it.
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("config: tls.cert_file: cannot read");
      expect(r.stderr).toMatch(/serve: worker [12] exited with status 2 while starting/);
      const pids = [...r.stderr.matchAll(/"msg":"mqtt bridge starting","worker":\d,[^\n]*"server":"[^"]*-(\d+)-/g)].map(
        (m) => Number(m[1]),
      );
      for (const p of pids) expect(alive(p)).toBe(false);
    });
  });
}
