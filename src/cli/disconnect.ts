/**
 * `comet disconnect --uid U [--revoke] [--reason R]`: an operator closes a user's session (4410),
 * cluster-wide with mqtt.forward_api, and with --revoke refuses its tokens issued until now.
 * `--uid -` reads uids from stdin, one per line. `comet revocations`: the revocations in force.
 */
import type { Command } from "commander";
import type { DisconnectAnswer, RevocationsAnswer } from "../protocol/operator.ts";
import { type ApiOptions, addApiOptions, callApi, serverUrl } from "./client.ts";
import { formatAge } from "./dump.ts";
import { CliError, usageError } from "./output.ts";
import { printable, renderTable } from "./table.ts";

export interface DisconnectOptions extends ApiOptions {
  uid: string;
  reason?: string;
  revoke?: boolean;
  json?: boolean;
}

export async function disconnect(o: DisconnectOptions): Promise<void> {
  if (o.uid === "") throw usageError("disconnect: --uid: expected a user id, got an empty string");
  serverUrl("disconnect", o.server);
  const uids = o.uid === "-" ? await uidsFromStdin() : [o.uid];
  for (const uid of uids) {
    const body: Record<string, unknown> = { uid, revoke: o.revoke === true };
    if (o.reason !== undefined) body.reason = o.reason;
    const text = await callApi("disconnect", o, "Disconnect", JSON.stringify(body));
    let answer: DisconnectAnswer;
    try {
      answer = JSON.parse(text) as DisconnectAnswer;
      if (!Number.isInteger(answer.disconnected)) throw new Error();
    } catch {
      throw new CliError("disconnect: the server's answer is not a Disconnect answer (expected {disconnected})");
    }
    if (o.json) {
      // One uid: the answer as it came; from stdin, one line per uid that names it.
      await write(uids.length === 1 && o.uid !== "-" ? `${text.trimEnd()}\n` : `${JSON.stringify({ uid, ...answer })}\n`);
    } else await write(renderDisconnect(uid, answer, o.revoke === true));
    if (answer.unanswered && answer.unanswered.length > 0) {
      process.stderr.write(
        `comet: disconnect: ${answer.unanswered.length} instance(s) did not answer in time, their sessions of ${printable(uid)} may still be open: ${answer.unanswered.join(", ")}\n`,
      );
    }
  }
}

export function renderDisconnect(uid: string, a: DisconnectAnswer, revoked: boolean): string {
  const n = a.disconnected;
  const closed = n === 0 ? `${printable(uid)}: no session open` : `${printable(uid)}: ${n} session${n === 1 ? "" : "s"} closed (4410)`;
  return `${closed}${revoked ? "; its tokens issued until now are refused (see comet revocations)" : ""}\n`;
}

async function uidsFromStdin(): Promise<string[]> {
  if (process.stdin.isTTY) process.stderr.write("comet: disconnect: reading uids from stdin, one per line; end with Ctrl-D\n");
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new CliError("disconnect: stdin is not valid UTF-8");
  }
  const uids = text.split(/\r?\n/).filter((l) => l !== "");
  if (uids.length === 0) throw usageError("disconnect: --uid -: no uid on stdin");
  return uids;
}

export interface RevocationsOptions extends ApiOptions {
  json?: boolean;
}

export async function revocations(o: RevocationsOptions): Promise<void> {
  const text = await callApi("revocations", o, "Revocations", "{}");
  if (o.json) {
    await write(`${text.trimEnd()}\n`);
    return;
  }
  let answer: RevocationsAnswer;
  try {
    answer = JSON.parse(text) as RevocationsAnswer;
    if (!Array.isArray(answer.revocations)) throw new Error();
  } catch {
    throw new CliError("revocations: the server's answer is not a Revocations answer (expected {revocations})");
  }
  await write(await renderRevocations(answer, Date.now()));
}

/** "2 revocations in force", then uid, when it was made, when it lapses and in how long. */
export async function renderRevocations(a: RevocationsAnswer, now: number): Promise<string> {
  const n = a.revocations.length;
  const head = `${n} revocation${n === 1 ? "" : "s"} in force`;
  if (n === 0) return `${head}\n`;
  const rows = a.revocations.map((r) => [r.uid, r.at, r.expires, formatAge(Date.parse(r.expires) - now)]);
  return `${head}\n${await renderTable(["uid", "revoked at", "expires", "in"], rows)}\n`;
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

export function registerDisconnect(program: Command): void {
  const cmd = program
    .command("disconnect")
    .description("close a user's session (close code 4410), cluster-wide with mqtt.forward_api")
    .requiredOption("-u, --uid <uid>", "the user whose session to close; - reads uids from stdin, one per line")
    .option("--reason <text>", "the close reason the client sees, at most 123 bytes (default: disconnected by an operator)")
    .option("--revoke", "also refuse the user's tokens issued until now, for auth.revocation_ttl")
    .option("--json", "print the server's JSON answer (with --uid -: one line per uid, with its uid)");
  addApiOptions(cmd);
  cmd
    .addHelpText(
      "after",
      `
Exit 0 once the server answered, whether or not a session was open; 1 when it refused the request
(the reason too long, a wrong token) or could not be reached; 2 for a usage error. Instances that
did not answer in time (mqtt.forward_api) are named on stderr.

Examples:
  comet disconnect --uid alice --reason "account suspended"
  comet disconnect --uid mallory --revoke --json
  cut -f1 leaked.tsv | comet disconnect --uid - --revoke`,
    )
    .action((opts: DisconnectOptions) => disconnect(opts));

  const list = program
    .command("revocations")
    .description("the revoked tokens in force: per uid, when they were revoked and when that lapses")
    .option("--json", "print the server's JSON answer as it came");
  addApiOptions(list);
  list
    .addHelpText("after", "\nExamples:\n  comet revocations\n  comet revocations --json | jq -r '.revocations[].uid'")
    .action((opts: RevocationsOptions) => revocations(opts));
}
