/** `comet dump`: the sessions and rooms of one instance (or, with mqtt.forward_api, the cluster), as tables or as the API's JSON. */
import type { Command } from "commander";
import type { Dump } from "../hub/session.ts";
import { type ApiOptions, addApiOptions, callApi } from "./client.ts";
import { CliError } from "./output.ts";
import { renderTable } from "./table.ts";

export interface DumpOptions extends ApiOptions {
  json?: boolean;
}

// A room's uids column is for a glance; the full list is in --json.
const MAX_LISTED_MEMBERS = 5;

export async function dump(o: DumpOptions): Promise<void> {
  // Tables show each session's transport; --json stays the DumpSession of the spec.
  const text = await callApi("dump", o, "DumpSession", o.json ? "{}" : '{"transport":true}');
  if (o.json) {
    await write(text.endsWith("\n") ? text : `${text}\n`);
    return;
  }
  let d: Dump;
  try {
    d = JSON.parse(text) as Dump;
    if (!Array.isArray(d.world) || !Array.isArray(d.rooms)) throw new Error();
  } catch {
    throw new CliError("dump: the server's answer is not a DumpSession (expected {world, rooms})");
  }
  await write(await renderDump(d, Date.now()));
}

export async function renderDump(d: Dump, now: number): Promise<string> {
  const out: string[] = [];
  out.push(`world: ${count(d.world.length, "session")}`);
  if (d.world.length > 0) {
    out.push(
      await renderTable(
        ["uid", "room", "transport", "birth", "age"],
        d.world.map((s) => [s.uid, s.rid, s.transport ?? "", s.birth, formatAge(now - Date.parse(s.birth))]),
      ),
    );
  }
  out.push("", `rooms: ${count(d.rooms.length, "room")}`);
  if (d.rooms.length > 0) {
    out.push(
      await renderTable(
        ["rid", "members", "uids"],
        d.rooms.map((r) => [r.rid, String(r.room.length), members(r.room.map((s) => s.uid))]),
      ),
    );
  }
  if (d.unanswered && d.unanswered.length > 0) {
    // mqtt.forward_api: a cluster's answer, with the instances that did not answer in time.
    out.push(
      "",
      `unanswered: ${count(d.unanswered.length, "instance")}, their sessions missing: ${d.unanswered.join(", ")}`,
    );
  }
  return `${out.join("\n")}\n`;
}

function members(uids: string[]): string {
  const shown = uids.slice(0, MAX_LISTED_MEMBERS).join(", ");
  return uids.length > MAX_LISTED_MEMBERS ? `${shown}, … (+${uids.length - MAX_LISTED_MEMBERS})` : shown;
}

const count = (n: number, what: string): string => `${n} ${what}${n === 1 ? "" : "s"}`;

/** 42s, 3m07s, 2h05m, 3d04h: two units are enough to read an age at a glance. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "?";
  const s = Math.max(0, Math.floor(ms / 1000));
  const two = (n: number) => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor((s % 86400) / 3600))}h`;
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

export function registerDump(program: Command): Command {
  const cmd = program
    .command("dump")
    .description("show the sessions (the world) and rooms this instance holds")
    .option("--json", "print the DumpSession JSON as the server sent it (for jq)");
  addApiOptions(cmd);
  return cmd
    .addHelpText(
      "after",
      `
Examples:
  comet dump
  comet dump --json | jq -r '.world[] | select(.rid == "lobby") | .uid'`,
    )
    .action((opts: DumpOptions) => dump(opts));
}
