/**
 * Where publish and broadcast get their evt: --evt, a Message built from --event/--data, or stdin
 * byte for byte (a trailing newline is kept: `echo hi | comet publish` sends "hi\n").
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Command } from "commander";
import { nowNs } from "../hub/activity.ts";
import { CliError, usageError } from "./output.ts";

export interface EvtOptions {
  evt?: string;
  event?: string;
  data?: string;
  id?: string;
  from?: string;
}

export function addEvtOptions(cmd: Command): Command {
  return cmd
    .option("-e, --evt <string>", "the event, sent as it is (default: read from stdin)")
    .option("--event <name>", "build a Message (see docs/protocol.md) of this event type as the evt")
    .option("--data <string>", "the Message's data (with --event)")
    .option("--id <id>", "the Message's id (with --event; default a fresh UUID)")
    .option("--from <server>", "the Message's server (with --event; default this host's name)");
}

export interface Message {
  server: string;
  event: string;
  data: string;
  id: string;
  /** Nanoseconds since the epoch: digits, so that no precision is lost on the way. */
  time: string;
}

/**
 * The Message as JSON, fields in the spec's order. `time` is an int64 written as a JSON integer;
 * a JS number holds only 53 bits, so the text is built here rather than by JSON.stringify.
 */
export function encodeMessage(m: Message): string {
  if (!/^\d+$/.test(m.time)) throw new TypeError(`time: expected decimal digits, got ${JSON.stringify(m.time)}`);
  const s = JSON.stringify;
  return `{"server":${s(m.server)},"event":${s(m.event)},"data":${s(m.data)},"id":${s(m.id)},"time":${m.time}}`;
}

/** Checks the flags before anything is read, so a usage error never waits on stdin. */
export function checkEvtOptions(command: string, o: EvtOptions): void {
  if (o.evt !== undefined && o.event !== undefined) {
    throw usageError(`${command}: --evt and --event cannot be used together (--event builds the evt)`);
  }
  if (o.event === undefined) {
    for (const flag of ["data", "id", "from"] as const) {
      if (o[flag] !== undefined) throw usageError(`${command}: --${flag} needs --event`);
    }
  } else if (o.data === undefined) {
    throw usageError(`${command}: --event needs --data`);
  }
}

export async function resolveEvt(command: string, o: EvtOptions): Promise<string> {
  checkEvtOptions(command, o);
  if (o.evt !== undefined) return o.evt;
  if (o.event !== undefined) {
    return encodeMessage({
      server: o.from ?? hostname(),
      event: o.event,
      data: o.data ?? "",
      id: o.id ?? randomUUID(),
      time: nowNs(),
    });
  }
  return readStdin(command);
}

async function readStdin(command: string): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write(`comet: ${command}: reading the evt from stdin; end it with Ctrl-D\n`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Uint8Array);
  // ignoreBOM: a leading U+FEFF is part of the evt, not something to strip.
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  try {
    return decoder.decode(Buffer.concat(chunks));
  } catch {
    throw new CliError(`${command}: stdin is not valid UTF-8 (an evt is text; encode binary data, e.g. base64)`);
  }
}
