/** The commander program: one subcommand per file under src/cli/. */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import pkg from "../../package.json" with { type: "json" };
import { registerBroadcast } from "./broadcast.ts";
import { generateSecret } from "../config/strength.ts";
import { readConfig, registerConfig } from "./config.ts";
import { registerDisconnect } from "./disconnect.ts";
import { registerDump } from "./dump.ts";
import { registerPresence } from "./presence.ts";
import { fail, oneLineErrors } from "./output.ts";
import { registerPublish } from "./publish.ts";
import { serve } from "./serve.ts";
import { registerSubscribe } from "./subscribe.ts";
import { registerWatch } from "./watch.ts";
import { mintToken } from "./token.ts";

/** --workers: a whole number, 0 or more (0 = one per CPU). */
function parseWorkers(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError("expected a whole number, 0 or more (0 = one per CPU)");
  return Number(raw.trim());
}

export function buildProgram(): Command {
  const program = new Command("comet")
    .description("Comet push gateway: serve WebSocket subscribers; publish, broadcast and inspect from a shell")
    .version(pkg.version, "-V, --version")
    .configureOutput(oneLineErrors("comet"))
    .exitOverride();

  program
    .command("serve")
    .description("run a comet instance")
    .option("-c, --config <file>", "YAML config file (env COMET_CONFIG)")
    .option("-l, --listen <host:port>", "HOST:PORT for HTTP and WebSocket (overrides listen)")
    .option("--dev", "development mode: loopback only, generated secrets, printed loudly")
    .option(
      "-w, --workers <n>",
      "worker processes sharing the ports, under a supervisor; 0 = one per CPU (overrides workers)",
      parseWorkers,
    )
    .addHelpText(
      "after",
      "\nExamples:\n  comet serve --dev\n  comet serve --config /etc/comet.yaml --listen 0.0.0.0:8080\n  comet serve --config /etc/comet.yaml --workers 0",
    )
    .action(async (opts) => serve(opts));

  program
    .command("token")
    .description(
      "mint an HS256 subscriber token from the serve config's auth.jwt.hs256_secret; or, with --gen-secret, make a new secret",
    )
    .option("--uid <uid>", "the user id (the token's sub); required unless --gen-secret")
    .option("--ttl <duration>", "lifetime, like 30m or 1h", "1h")
    .option("--rooms <list>", 'comma-separated rooms claim, e.g. "lobby,team-42/*"')
    .option("-c, --config <file>", "the serve config (env COMET_CONFIG)")
    .option(
      "--gen-secret",
      "print a fresh random secret (32 bytes, base64url) for auth.jwt.hs256_secret or admin.tokens",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  comet token --uid alice --ttl 2h --config comet.yaml\n  comet token --gen-secret",
    )
    .action(async (opts) => {
      if (opts.genSecret) {
        process.stdout.write(`${generateSecret()}\n`);
        return;
      }
      const token = await mintToken(readConfig(opts.config), opts);
      process.stdout.write(`${token}\n`);
    });

  registerPublish(program);
  registerBroadcast(program);
  registerDump(program);
  registerSubscribe(program);
  registerPresence(program);
  registerDisconnect(program);
  registerWatch(program);
  registerConfig(program);

  for (const cmd of program.commands) cmd.configureOutput(oneLineErrors(`comet ${cmd.name()}`));
  return program;
}

export async function main(argv: string[]): Promise<void> {
  // A write to a closed pipe fails on the stream, not only in the write's callback.
  process.stdout.on("error", fail);
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (or the help / version).
      process.exit(err.exitCode === 0 ? 0 : 2);
    }
    fail(err);
  }
}
