/**
 * The supervisor of `comet serve --workers 2` and its own signals, as real processes: a SIGHUP
 * while it is still loading does not end it.
 */
import { afterEach, expect, test } from "bun:test";
import { SOURCE, start } from "../cli/run.ts";
import { caught, catches } from "../support/signals.ts";
import { alive, hostEnv, type Line, until } from "./host.ts";

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

function host(env: Record<string, string>): Started {
  const s = start(SOURCE, ["serve", "--listen", "127.0.0.1:0", "--workers", "2"], { env });
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
