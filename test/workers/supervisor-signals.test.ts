/**
 * The supervisor of `comet serve --workers 2` and its own signals, as real processes: a SIGHUP
 * while it is still loading does not end it, and a SIGHUP applies a changed log.level to the
 * supervisor's own lines, as it does to each worker's.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SOURCE, start } from "../cli/run.ts";
import { caught, catches } from "../support/signals.ts";
import { alive, hostEnv, type Line, until } from "./host.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-supervisor-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
type Started = ReturnType<typeof start>;
const started: Started[] = [];

afterEach(async () => {
  for (const s of started.splice(0)) {
    const pids = lines(s)
      .filter((l) => l.msg === "worker listening")
      .map((l) => Number(l.pid));
    s.proc.kill("SIGKILL");
    for (const p of pids) if (alive(p)) process.kill(p, "SIGKILL");
    await s.proc.exited;
  }
});

const lines = (s: Started): Line[] =>
  s.stderr.text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Line);

/** The supervisor's lines: a worker's carry its number. */
const own = (s: Started): Line[] => lines(s).filter((l) => l.worker === undefined);

function host(env: Record<string, string>, args: string[] = []): Started {
  const s = start(SOURCE, ["serve", "--listen", "127.0.0.1:0", "--workers", "2", ...args], { env });
  started.push(s);
  return s;
}

async function ready(s: Started): Promise<string> {
  await until(() => own(s).some((l) => l.msg === "listening"), "the supervisor's listening line", 20_000);
  const listen = own(s).find((l) => l.msg === "listening")?.listen as string;
  const url = `http://${listen}`;
  await until(async () => (await fetch(`${url}/readyz`)).status === 200, "the host ready", 15_000);
  return url;
}

test("a SIGHUP as soon as the supervisor can catch one (before its program loads) does not end it", async () => {
  const s = host(hostEnv());
  await catches(s.proc.pid, 1);
  expect(caught(s.proc.pid, 15)).toBe(false);
  s.proc.kill("SIGHUP");
  const url = await ready(s);
  expect(s.proc.exitCode).toBeNull();
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
}, 30_000);

test("SIGHUP applies a changed log.level to the supervisor itself: its info lines stop at warn and come back at info", async () => {
  const file = join(dir, "level.yaml");
  writeFileSync(file, "log:\n  level: info\n");
  const env = hostEnv();
  delete env.COMET_LOG_LEVEL;
  const s = host(env, ["--config", file]);
  const url = await ready(s);
  const count = (msg: string) => lines(s).filter((l) => l.msg === msg).length;
  // Only the supervisor writes these two, at info and at warn.
  expect(count("worker listening")).toBe(2);

  writeFileSync(file, "log:\n  level: warn\n");
  s.proc.kill("SIGHUP");
  // The supervisor acts on a signal at once; its workers read the file when the pipe tells them.
  await Bun.sleep(300);
  const victim = Number(lines(s).find((l) => l.msg === "worker listening" && l.worker === 1)?.pid);
  process.kill(victim, "SIGKILL");
  await until(() => count("worker died: restarting") === 1, "the supervisor's warning of the death", 5000);
  await until(async () => (await fetch(`${url}/readyz`)).status === 200, "worker 1 back", 10_000);
  // Worker 1 is listening again, and the supervisor said so at info: not written at warn.
  expect(count("worker listening")).toBe(2);

  writeFileSync(file, "log:\n  level: info\n");
  s.proc.kill("SIGHUP");
  await until(
    () => own(s).some((l) => l.msg === "config reloaded" && l.level === "info" && l.log_level === "info"),
    "the supervisor's reload line, at info",
    5000,
  );
  expect(own(s).filter((l) => l.msg === "config reloaded")).toHaveLength(1);
  s.proc.kill("SIGTERM");
  expect(await s.proc.exited).toBe(0);
}, 30_000);
