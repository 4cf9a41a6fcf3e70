/**
 * Runs the CLI as a real process, two ways: from source with bun, and as the single executable
 * dist/comet, built by the test run itself and run from a directory of its own with no bun on the
 * PATH, so that what is proven is the binary, alone. The Deno run (COMET_TEST_RUNTIME=deno) runs
 * it from source with deno instead; the executable is Bun's and is proven by the Bun run.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { DENO, ROOT, TEST_RUNTIME } from "../support/runtime.ts";

export { ROOT };

export interface Cli {
  name: string;
  /** The argv before the command's own arguments. */
  argv(): string[];
  cwd(): string;
  /** PATH for the child. */
  path: string;
  /** Called in beforeAll; the compiled CLI builds itself here. */
  prepare(): Promise<void>;
}

export const SOURCE: Cli =
  TEST_RUNTIME === "deno"
    ? {
        name: "deno bin/comet.ts",
        argv: () => [DENO, "run", "-A", join(ROOT, "bin/comet.ts")],
        cwd: () => ROOT,
        path: process.env.PATH ?? "/usr/bin:/bin",
        prepare: async () => {},
      }
    : {
        name: "bun bin/comet.ts",
        argv: () => [process.execPath, join(ROOT, "bin/comet.ts")],
        cwd: () => ROOT,
        path: process.env.PATH ?? "/usr/bin:/bin",
        prepare: async () => {},
      };

let compiled: string | undefined;
let building: Promise<string> | undefined;

/** `bun run build`, once per test run however many files ask; the binary is then copied out of the tree. */
function buildDist(): Promise<string> {
  building ??= (async () => {
    const proc = Bun.spawn([process.execPath, "run", "build"], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    if (code !== 0) throw new Error(`bun run build exited ${code}:\n${out}\n${err}`);
    const dir = mkdtempSync(join(tmpdir(), "comet-dist-"));
    process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
    const bin = join(dir, "comet");
    copyFileSync(join(ROOT, "dist/comet"), bin);
    return bin;
  })();
  return building;
}

export const COMPILED: Cli = {
  name: "dist/comet",
  argv: () => {
    if (!compiled) throw new Error("dist/comet is not built: prepare() first");
    return [compiled];
  },
  cwd: () => resolve(compiled as string, ".."),
  path: "/usr/bin:/bin",
  prepare: async () => {
    compiled = await buildDist();
  },
};

export const CLIS: readonly Cli[] = TEST_RUNTIME === "deno" ? [SOURCE] : [SOURCE, COMPILED];

/** Long enough for `bun build --compile` on a slow machine. */
export const BUILD_TIMEOUT_MS = 60_000;

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: Record<string, string>;
  /** Bytes for stdin; without it stdin is empty (closed at once). */
  stdin?: string | Uint8Array;
}

/** The child's environment: nothing of ours leaks in (no COMET_* from the shell running the tests). */
function childEnv(cli: Cli, env: Record<string, string> = {}): Record<string, string> {
  return { PATH: cli.path, HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env };
}

export function spawn(cli: Cli, args: string[], opts: RunOptions = {}) {
  const input = typeof opts.stdin === "string" ? new TextEncoder().encode(opts.stdin) : opts.stdin;
  return Bun.spawn([...cli.argv(), ...args], {
    cwd: cli.cwd(),
    env: childEnv(cli, opts.env),
    stdin: input ?? "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
}

export async function run(cli: Cli, args: string[], opts: RunOptions = {}): Promise<Result> {
  const proc = spawn(cli, args, opts);
  const [code, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { code, stdout, stderr };
}

/** A failure as docs/protocol.md wants it: one line on stderr, no stack trace. */
export function oneLine(stderr: string): string {
  const lines = stderr.split("\n").filter((l) => l !== "");
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got ${lines.length}:\n${stderr}`);
  if (/^\s+at /m.test(stderr)) throw new Error(`stack trace on stderr:\n${stderr}`);
  return lines[0] as string;
}

/** Reads a stream as it comes, so a test can wait for some output while the process runs on. */
export class Collector {
  text = "";
  readonly done: Promise<string>;

  constructor(stream: ReadableStream<Uint8Array>) {
    const decoder = new TextDecoder();
    this.done = (async () => {
      for await (const chunk of stream) this.text += decoder.decode(chunk, { stream: true });
      this.text += decoder.decode();
      return this.text;
    })();
  }

  async until(what: string, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.text.includes(what)) {
      if (Date.now() > deadline)
        throw new Error(`no ${JSON.stringify(what)} within ${ms} ms; got ${JSON.stringify(this.text)}`);
      await Bun.sleep(5);
    }
  }
}

/** A running CLI whose stdout and stderr are read as they come. */
export function start(cli: Cli, args: string[], opts: RunOptions = {}) {
  const proc = spawn(cli, args, opts);
  const stdout = new Collector(proc.stdout);
  const stderr = new Collector(proc.stderr);
  return {
    proc,
    stdout,
    stderr,
    async finish(): Promise<Result> {
      const [code, out, err] = await Promise.all([proc.exited, stdout.done, stderr.done]);
      return { code, stdout: out, stderr: err };
    },
  };
}
