/** The config the server and the config-reading commands share: --config FILE or COMET_CONFIG, env, flags. */
import { ConfigError, loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { CliError } from "./output.ts";

export function readConfig(file: string | undefined, overrides: Record<string, unknown> = {}): Config {
  try {
    return loadConfig({ file: file ?? process.env.COMET_CONFIG, env: process.env, overrides });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, 2);
    throw err;
  }
}
