/**
 * `comet serve` as a real process, for tests that signal it: its JSON log lines as they come, its
 * port, an admin probe, and AUTH outcomes over real WebSockets.
 */
import { Client, type Closed } from "../helpers.ts";
import { type Cli, type Collector, SOURCE, start } from "./run.ts";

export interface Serving {
  proc: ReturnType<typeof start>["proc"];
  stderr: Collector;
  port: number;
  url: string;
  ws: string;
  finish: ReturnType<typeof start>["finish"];
}

export async function serveProcess(
  args: string[],
  env: Record<string, string> = {},
  cli: Cli = SOURCE,
): Promise<Serving> {
  const s = start(cli, ["serve", ...args], { env });
  await s.stderr.until('"msg":"listening"');
  const port = Number(/"listen":"[^"]*:(\d+)"/.exec(s.stderr.text)?.[1]);
  const url = `http://127.0.0.1:${port}`;
  return {
    proc: s.proc,
    stderr: s.stderr,
    port,
    url,
    ws: `ws://127.0.0.1:${port}/comet/Comet/Subscribe`,
    finish: s.finish,
  };
}

export type LogLine = Record<string, unknown> & { msg: string; level: string };

/** Every JSON line the process has logged so far (the --dev banner is not JSON and is skipped). */
export const logLines = (s: Serving): LogLine[] =>
  s.stderr.text
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);

const isOutcome = (l: LogLine) => l.msg === "config reloaded" || l.msg.startsWith("config reload refused");

/** Sends SIGHUP and answers the outcome line it brings (reloaded, or refused), once it is logged. */
export async function hup(s: Serving): Promise<LogLine> {
  const before = logLines(s).filter(isOutcome).length;
  s.proc.kill("SIGHUP");
  const deadline = Date.now() + 10_000;
  for (;;) {
    const outcomes = logLines(s).filter(isOutcome);
    if (outcomes.length > before) return outcomes[before] as LogLine;
    // Killed by a signal, a process has a signalCode and no exitCode.
    const ended = s.proc.signalCode ?? s.proc.exitCode;
    if (ended !== null) throw new Error(`ended (${ended}) on SIGHUP:\n${s.stderr.text}`);
    if (Date.now() > deadline) throw new Error(`no reload outcome logged:\n${s.stderr.text}`);
    await Bun.sleep(10);
  }
}

export async function adminStatus(s: Serving, token: string): Promise<number> {
  const res = await fetch(`${s.url}/comet/Comet/DumpSession`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}` },
  });
  await res.arrayBuffer();
  return res.status;
}

export async function publish(s: Serving, admin: string, uid: string, evt: string): Promise<number> {
  const res = await fetch(`${s.url}/comet/Comet/Publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}` },
    body: JSON.stringify({ uid, evt }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function hasSession(s: Serving, admin: string, uid: string): Promise<boolean> {
  const res = await fetch(`${s.url}/comet/Comet/DumpSession`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}` },
  });
  return ((await res.json()) as { world: Array<{ uid: string }> }).world.some((x) => x.uid === uid);
}

/**
 * Connects and sends AUTH with `token`: the client, once the server holds its session (seen with
 * the admin token), or how the server closed it.
 */
export async function authenticate(s: Serving, admin: string, uid: string, token: string): Promise<Client | Closed> {
  const c = new Client(s.ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token } });
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (c.closeInfo) return c.closeInfo;
    if (await hasSession(s, admin, uid)) return c;
    await Bun.sleep(20);
  }
  throw new Error(`AUTH of ${uid}: neither a session nor a close within 5 s`);
}
