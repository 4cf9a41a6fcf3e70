/**
 * `comet publish --batch FILE|-`: NDJSON lines of `{"uid","evt"}` (a publish) or `{"rid","evt"}`
 * (a broadcast) sent through POST /comet/Comet/Batch, many per request, in order. Every line is
 * answered: the server refuses a bad command alone (its line is named), and a line that is not a
 * JSON object never leaves. Exit 0 when every line was delivered, 1 when any was refused.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { type ApiOptions, callApi } from "./client.ts";
import { CliError, usageError } from "./output.ts";

export interface BatchOptions extends ApiOptions {
  batch: string;
  batchSize?: string;
  json?: boolean;
}

/** Under the default limits.max_body_bytes (1 MiB), with room for the request's own JSON. */
const MAX_REQUEST_BYTES = 900 * 1024;
/** Refusals printed one per line before the rest are only counted. */
const SHOWN_REFUSALS = 20;

interface Refusal {
  line: number;
  code: number;
  detail: string;
}

interface Pending {
  lines: number[];
  parts: string[];
  bytes: number;
}

const emptyPending = (): Pending => ({ lines: [], parts: [], bytes: 0 });

/** One NDJSON line as a command of the batch, or why it cannot be one. */
function toCommand(text: string): string | { detail: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { detail: "not JSON" };
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return { detail: "not a JSON object" };
  // The key decides, not its value: {"uid":""} is a publish without a uid (refused), never a broadcast.
  const uid = (v as Record<string, unknown>).uid;
  return uid !== undefined && uid !== null ? `{"publish":${text}}` : `{"broadcast":${text}}`;
}

function batchSize(raw: string | undefined): number {
  if (raw === undefined) return 500;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw usageError(`publish: --batch-size: expected a whole number of at least 1, got "${raw}"`);
  return n;
}

function lines(source: string): AsyncIterable<string> {
  const input = source === "-" ? process.stdin : createReadStream(source);
  return createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
}

export async function publishBatch(o: BatchOptions): Promise<void> {
  const size = batchSize(o.batchSize);
  const started = performance.now();
  const refused: Refusal[] = [];
  let sent = 0;
  let lineNo = 0;
  let pending = emptyPending();
  const progress = new Progress();

  const flush = async () => {
    if (pending.lines.length === 0) return;
    const batch = pending;
    pending = emptyPending();
    let text: string;
    try {
      text = await callApi("publish", o, "Batch", `{"commands":[${batch.parts.join(",")}]}`);
    } catch (err) {
      const done = sent === 0 ? "" : ` (${sent} lines delivered before it)`;
      throw new CliError(`${(err as Error).message}; stopped at line ${batch.lines[0]}${done}`);
    }
    const { replies } = JSON.parse(text) as { replies: Array<{ error?: { code: number; detail: string } }> };
    replies.forEach((r, i) => {
      if (r.error) refused.push({ line: batch.lines[i] as number, ...r.error });
      else sent++;
    });
    progress.show(sent, refused.length);
  };

  try {
    for await (const text of lines(o.batch)) {
      lineNo++;
      if (text.trim() === "") continue;
      const cmd = toCommand(text);
      if (typeof cmd !== "string") {
        refused.push({ line: lineNo, code: 400, detail: cmd.detail });
        continue;
      }
      const bytes = Buffer.byteLength(cmd) + 1;
      if (pending.lines.length >= size || (pending.bytes > 0 && pending.bytes + bytes > MAX_REQUEST_BYTES))
        await flush();
      pending.lines.push(lineNo);
      pending.parts.push(cmd);
      pending.bytes += bytes;
    }
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError(
      `publish: --batch: cannot read ${o.batch === "-" ? "stdin" : o.batch}: ${(err as Error).message}`,
    );
  }
  await flush();
  progress.done();
  refused.sort((a, b) => a.line - b.line);
  report({ sent, refused, seconds: (performance.now() - started) / 1000 }, o.json === true);
  if (refused.length > 0) process.exitCode = 1;
}

function report(r: { sent: number; refused: Refusal[]; seconds: number }, json: boolean): void {
  for (const [i, x] of r.refused.entries()) {
    if (i === SHOWN_REFUSALS) {
      process.stderr.write(`comet: publish: ... and ${r.refused.length - i} more refused\n`);
      break;
    }
    process.stderr.write(`comet: publish: line ${x.line}: ${x.code} ${x.detail}\n`);
  }
  const summary = `sent ${r.sent}, refused ${r.refused.length}, in ${r.seconds.toFixed(2)} s`;
  if (json) {
    const out = { sent: r.sent, refused: r.refused.length, seconds: Number(r.seconds.toFixed(3)), errors: r.refused };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else process.stderr.write(`comet: publish: ${summary}\n`);
}

/** A progress line on a terminal (stderr), rewritten at most a few times a second; nothing in a pipe. */
class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private last = 0;

  show(sent: number, refused: number): void {
    if (!this.tty) return;
    const now = performance.now();
    if (now - this.last < 200) return;
    this.last = now;
    process.stderr.write(`\rcomet: publish: sent ${sent}, refused ${refused} ...`);
  }

  done(): void {
    if (this.tty && this.last > 0) process.stderr.write("\r\x1b[K");
  }
}
