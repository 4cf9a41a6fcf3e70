/** `comet presence UID… | --rid RID`: who is online, from the instance's view of the cluster. */
import type { Command } from "commander";
import type { PresenceAnswer } from "../protocol/presence.ts";
import { type ApiOptions, addApiOptions, callApi } from "./client.ts";
import { formatAge } from "./dump.ts";
import { CliError, usageError } from "./output.ts";
import { renderTable } from "./table.ts";

export interface PresenceOptions extends ApiOptions {
  rid?: string;
  json?: boolean;
}

export async function presence(uids: string[], o: PresenceOptions): Promise<void> {
  const byRoom = o.rid !== undefined;
  if (byRoom === uids.length > 0) throw usageError("presence: give UIDs or --rid RID (one of them)");
  if (byRoom && o.rid === "") throw usageError("presence: --rid: expected a room id, got an empty string");
  const body = JSON.stringify(byRoom ? { rid: o.rid } : { uids });
  const text = await callApi("presence", o, "Presence", body);
  if (o.json) {
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
    return;
  }
  let answer: PresenceAnswer;
  try {
    answer = JSON.parse(text) as PresenceAnswer;
    if (!Array.isArray(answer.online)) throw new Error();
  } catch {
    throw new CliError("presence: the server's answer is not a Presence answer (expected {online})");
  }
  const asked = byRoom ? `in room ${o.rid}` : `of ${new Set(uids).size} asked`;
  process.stdout.write(await renderPresence(answer, asked, Date.now()));
}

/** "2 online of 3 asked", then uid, room, server, since and for how long. */
export async function renderPresence(a: PresenceAnswer, asked: string, now: number): Promise<string> {
  const head = `${a.online.length} online ${asked}`;
  if (a.online.length === 0) return `${head}\n`;
  const rows = a.online.map((p) => {
    const ms = Number(BigInt(p.since) / 1_000_000n);
    return [p.uid, p.rid, p.server, new Date(ms).toISOString(), formatAge(now - ms)];
  });
  return `${head}\n${await renderTable(["uid", "room", "server", "since", "for"], rows)}\n`;
}

export function registerPresence(program: Command): Command {
  const cmd = program
    .command("presence")
    .description("who is online (debounced by presence.offline_grace), cluster-wide with the bridge")
    .argument("[uids...]", "the users to ask about (at most 1000)")
    .option("--rid <rid>", "everyone whose session is in this room, instead of UIDs")
    .option("--json", "print the server's JSON answer as it came");
  addApiOptions(cmd);
  return cmd
    .addHelpText(
      "after",
      `
Examples:
  comet presence alice bob
  comet presence --rid lobby --json | jq -r '.online[].uid'`,
    )
    .action((uids: string[], opts: PresenceOptions) => presence(uids, opts));
}
