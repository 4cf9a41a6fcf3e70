/**
 * Child processes of a bench run: every one pinned with taskset, bounded by timeout(1), tracked,
 * and ended by its own id when the run ends (or dies). CPU time and RSS come from /proc.
 */
import { readFileSync } from "node:fs";
import type { Subprocess } from "bun";
import { Channel } from "./rpc.ts";

export const SERVER_CPU = "0";
export const GEN_CPU = "1";

const CLK_TCK = (() => {
  const r = Bun.spawnSync(["getconf", "CLK_TCK"]);
  const n = Number(r.stdout.toString().trim());
  return n > 0 ? n : 100;
})();

const live = new Set<Subprocess>();
/** The pid of the program each timeout(1) wrapper runs, once known. */
const realPids = new Map<Subprocess, number>();

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // gone
  }
}

export function bunPath(): string {
  return process.execPath;
}

/** Runs argv pinned to a CPU, killed after maxSeconds whatever happens. */
export function spawnPinned(
  cpu: string,
  argv: string[],
  maxSeconds: number,
  opts: {
    stdin?: "pipe" | "ignore";
    stdout?: "pipe" | "ignore";
    stderr?: "pipe" | "inherit";
    env?: Record<string, string>;
  },
): Subprocess<"pipe", "pipe", "pipe"> {
  const p = Bun.spawn(["timeout", "-k", "3", String(Math.ceil(maxSeconds)), "taskset", "-c", cpu, ...argv], {
    stdin: opts.stdin ?? "ignore",
    stdout: opts.stdout ?? "ignore",
    stderr: opts.stderr ?? "inherit",
    env: { ...process.env, ...opts.env },
  }) as unknown as Subprocess<"pipe", "pipe", "pipe">;
  live.add(p);
  void p.exited.then(() => {
    live.delete(p);
    realPids.delete(p);
  });
  return p;
}

/** The pid of the program timeout(1) runs (taskset execs it, so it keeps the pid). */
export async function childPid(p: Subprocess): Promise<number> {
  for (let i = 0; i < 200; i++) {
    try {
      const kids = readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, "utf8").trim();
      if (kids) {
        const pid = Number(kids.split(/\s+/)[0]);
        const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
        if (comm !== "taskset") {
          realPids.set(p, pid);
          return pid;
        }
      }
    } catch {
      // not there yet, or gone
    }
    if (p.exitCode !== null) break;
    await Bun.sleep(10);
  }
  throw new Error(`cannot find the process started under pid ${p.pid}`);
}

/**
 * Ends a child: SIGTERM to it and to its timeout(1) wrapper (which passes it on and, with -k 3,
 * sends SIGKILL itself 3 s later). Only if both still live after `graceMs` are they killed, the
 * child first: killing the wrapper alone would orphan the child, with no time bound left.
 */
export async function stopProcess(p: Subprocess, graceMs = 6000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const real = realPids.get(p);
  if (real) signal(real, "SIGTERM");
  p.kill("SIGTERM");
  const done = await Promise.race([p.exited.then(() => true), Bun.sleep(graceMs).then(() => false)]);
  if (done) return;
  if (real) signal(real, "SIGKILL");
  await Promise.race([p.exited, Bun.sleep(1000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await p.exited;
}

/**
 * The run is ending with children still up (an error, a signal): SIGTERM each child and its
 * wrapper, and leave the rest to timeout(1), which outlives this process and sends SIGKILL 3 s
 * later if needed. Never SIGKILL a wrapper here: its child would be orphaned and unbounded.
 */
export function killAll(): void {
  for (const p of live) {
    const real = realPids.get(p);
    if (real) signal(real, "SIGTERM");
    try {
      p.kill("SIGTERM");
    } catch {
      // gone
    }
  }
}

/** Records the pid a wrapper runs when the child reports it itself (the generators do). */
export function setRealPid(p: Subprocess, pid: number): void {
  realPids.set(p, pid);
}

/** Server CPU time so far (user + system), in seconds. */
export function cpuSeconds(pid: number): number {
  const { user, sys } = cpuSplit(pid);
  return user + sys;
}

/** CPU time so far in user space and in the kernel (on a server's behalf: its socket writes), in seconds. */
export function cpuSplit(pid: number): { user: number; sys: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { user: Number(rest[11]) / CLK_TCK, sys: Number(rest[12]) / CLK_TCK };
}

/**
 * Time CPU `cpu` spent running anything (user + nice + system), in seconds: minus the server's own
 * CPU time, what other processes took from the server's core (this machine is shared).
 */
export function cpuBusySeconds(cpu = SERVER_CPU): number {
  const line = readFileSync("/proc/stat", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (!line) return 0;
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] ?? 0) + (f[1] ?? 0) + (f[2] ?? 0)) / CLK_TCK;
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** A port free on loopback right now. */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

/** Pins this process (all its threads) to the generators' core. */
export function pinSelf(): void {
  Bun.spawnSync(["taskset", "-a", "-p", "-c", GEN_CPU, String(process.pid)], { stdout: "ignore", stderr: "ignore" });
}

export interface Generator {
  ch: Channel;
  pid: number;
  proc: Subprocess;
}

export async function startGenerator(root: string, name: string, maxSeconds: number): Promise<Generator> {
  // COMET_BENCH_GEN_PROF=DIR: every generator writes a CPU profile there (to see what limits it).
  const prof = process.env.COMET_BENCH_GEN_PROF;
  const profArgs = prof ? ["--cpu-prof", "--cpu-prof-dir", prof] : [];
  const proc = spawnPinned(GEN_CPU, [bunPath(), ...profArgs, `${root}/bench/gen.ts`], maxSeconds, {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
  });
  const ch = new Channel(proc as unknown as Subprocess<"pipe", "pipe", "inherit">, name);
  const hello = await ch.call<{ pid: number }>("hello", {}, 30_000);
  setRealPid(proc, hello.pid);
  return { ch, pid: hello.pid, proc };
}
