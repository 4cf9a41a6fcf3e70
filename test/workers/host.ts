/**
 * `comet serve --workers N` as a real process for the workers' tests: its JSON log lines (the
 * supervisor's and every worker's, on one stderr), its port, the workers' pids, and WebSocket
 * logins that tell which worker took them (the worker's "session start" line, at debug).
 */
import { ADMIN, Client, SECRET, token } from "../helpers.ts";
import { type Cli, SOURCE, start } from "../cli/run.ts";

export type Line = Record<string, unknown> & { msg: string; level: string };

export interface Host {
  proc: ReturnType<typeof start>["proc"];
  stderr: ReturnType<typeof start>["stderr"];
  finish: ReturnType<typeof start>["finish"];
  port: number;
  url: string;
  ws: string;
  lines(): Line[];
  /** The current pid of worker n (the latest "worker listening" line for it). */
  pid(n: number): number;
  /** Waits for a log line that matches, after the first `skip` such lines. */
  line(match: (l: Line) => boolean, ms?: number, skip?: number): Promise<Line>;
}

export const hostEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
  COMET_AUTH_JWT_HS256_SECRET: SECRET,
  COMET_ADMIN_TOKENS: ADMIN,
  COMET_LOG_LEVEL: "debug",
  ...extra,
});

/** Starts `comet serve --workers 2` (or what `args` say) on a free port; resolves once the host listens. */
export async function startHost(
  args: string[] = [],
  env: Record<string, string> = hostEnv(),
  cli: Cli = SOURCE,
): Promise<Host> {
  const launched = launchHost(args, env, cli);
  const up = await launched.line((l) => l.msg === "listening" && l.worker === undefined, 20_000);
  const h = hostAt(launched, Number(/:(\d+)$/.exec(up.listen as string)?.[1]));
  // Listening comes before every worker's bridge is up: a Publish then would reach only its worker.
  await until(async () => (await fetch(`${h.url}/readyz`)).status === 200, "the host ready", 15_000);
  return h;
}

export type Launched = Omit<Host, "port" | "url" | "ws">;

/** Starts `comet serve` with `args` on `listen` and returns at once: nothing waited for. */
export function launchHost(
  args: string[],
  env: Record<string, string> = hostEnv(),
  cli: Cli = SOURCE,
  listen = "127.0.0.1:0",
): Launched {
  const s = start(cli, ["serve", "--listen", listen, ...args], { env });
  // Parsed as they come, once each: a scale test logs tens of thousands of lines.
  const parsed: Line[] = [];
  let upTo = 0;
  const lines = (): Line[] => {
    const text = s.stderr.text;
    const end = text.lastIndexOf("\n") + 1;
    if (end > upTo) {
      for (const l of text.slice(upTo, end).split("\n")) if (l.startsWith("{")) parsed.push(JSON.parse(l) as Line);
      upTo = end;
    }
    return parsed;
  };
  const line = async (match: (l: Line) => boolean, ms = 10_000, skip = 0): Promise<Line> => {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = lines().filter(match);
      if (found.length > skip) return found[skip] as Line;
      if (Date.now() > deadline) throw new Error(`no such log line within ${ms} ms:\n${s.stderr.text}`);
      if (s.proc.exitCode !== null || s.proc.signalCode !== null) {
        throw new Error(`the host ended (${s.proc.exitCode ?? s.proc.signalCode}):\n${s.stderr.text}`);
      }
      await Bun.sleep(10);
    }
  };
  return {
    proc: s.proc,
    stderr: s.stderr,
    finish: s.finish,
    lines,
    line,
    pid(n) {
      const ups = lines().filter((l) => l.msg === "worker listening" && l.worker === n);
      return Number(ups[ups.length - 1]?.pid);
    },
  };
}

/** A launched host that listens (or is to) on 127.0.0.1:port. */
export const hostAt = (launched: Launched, port: number): Host => ({
  ...launched,
  port,
  url: `http://127.0.0.1:${port}`,
  ws: `ws://127.0.0.1:${port}/comet/Comet/Subscribe`,
});

export interface Login {
  client: Client;
  /** The worker holding the session. */
  worker: number;
}

/** Connects, sends AUTH, and waits for the worker that took it to log the session's start. */
export async function login(h: Host, uid: string, rid?: string): Promise<Login> {
  const isStart = (l: Line) => l.msg === "session start" && l.uid === uid;
  const before = h.lines().filter(isStart).length;
  const client = new Client(h.ws);
  await client.opened;
  const frame: Record<string, unknown> = { t: "AUTH", auth: { token: await token(uid) } };
  if (rid !== undefined) frame.join = { rid };
  client.send(frame);
  const started = await h.line(isStart, 10_000, before);
  return { client, worker: started.worker as number };
}

export async function call(h: Host, method: string, body: unknown): Promise<Response> {
  return fetch(`${h.url}/comet/Comet/${method}`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

/** One series of the host's /metrics (0 when absent). */
export async function metric(h: Host, series: string): Promise<number> {
  const text = await (await fetch(`${h.url}/metrics`)).text();
  const row = text.split("\n").find((l) => l.startsWith(`${series} `));
  return row === undefined ? 0 : Number(row.slice(series.length + 1));
}

export const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export async function until(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}
