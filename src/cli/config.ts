/**
 * The config the server and the config-reading commands share (--config FILE or COMET_CONFIG, env,
 * flags), and `comet config check` and `comet config defaults`, which judge and describe it.
 */
import type { Command } from "commander";
import { renderDefaults } from "../config/defaults.ts";
import { loadConfig } from "../config/load.ts";
import { preflight } from "../instance/preflight.ts";
import type { Config } from "../config/schema.ts";
import { ConfigError } from "../errors.ts";
import { oneLineErrors } from "./output.ts";

/** Throws a ConfigError for a bad config, which the CLI reports as it reports a bad flag: exit 2 (output.ts). */
export function readConfig(file: string | undefined, overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ file: file ?? process.env.COMET_CONFIG, env: process.env, overrides });
}

/**
 * FILE as `comet serve --config FILE` would read and judge it, with the environment's COMET_*
 * variables (they override the file for serve too), up to where serve would listen. Prints
 * `FILE: ok`, or throws the ConfigError that names the key; with --json, prints either as JSON.
 */
export async function checkConfig(file: string, opts: { json?: boolean }): Promise<void> {
  try {
    preflight(loadConfig({ file, env: process.env }));
  } catch (err) {
    if (!(err instanceof ConfigError) || !opts.json) throw err;
    await write(`${JSON.stringify({ ok: false, key: err.key ?? null, error: err.message })}\n`);
    process.exitCode = 2;
    return;
  }
  await write(opts.json ? `${JSON.stringify({ ok: true })}\n` : `${file}: ok\n`);
}

function write(text: string): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(text, (err) => (err ? reject(err) : resolve())));
}

export function registerConfig(program: Command): Command {
  const config = program
    .command("config")
    .description("check a config file, or print every key with its default")
    .addHelpText("after", "\nExamples:\n  comet config check /etc/comet.yaml\n  comet config defaults > comet.yaml");
  config
    .command("check")
    .summary("check a config file as serve would, without starting a server")
    .description(
      "read FILE as `comet serve --config FILE` would and make the checks serve makes before it listens (values, key strength, key and TLS files, broker settings, what this runtime serves), without starting a server; exit 0 and print `FILE: ok`, or exit 2 naming the key",
    )
    .argument("<file>", "the YAML config file; COMET_* variables of the environment override it, as for serve")
    .option("--json", 'print {"ok":true} or {"ok":false,"key":"...","error":"..."} on stdout (exit 2 still)')
    .addHelpText(
      "after",
      "\nExamples:\n  comet config check /etc/comet.yaml && systemctl reload comet\n  comet config check comet.yaml --json",
    )
    .action((file: string, opts: { json?: boolean }) => checkConfig(file, opts));
  config
    .command("defaults")
    .summary("print every key with its default and what it does, as YAML")
    .description(
      "print every config key with its default and what it does, as YAML (config.example.yaml is this output)",
    )
    .addHelpText("after", "\nExamples:\n  comet config defaults > comet.yaml")
    .action(() => write(renderDefaults()));
  for (const cmd of config.commands) cmd.configureOutput(oneLineErrors(`comet config ${cmd.name()}`));
  return config;
}
