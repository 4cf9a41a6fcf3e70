/** The config the server and the config-reading commands share: --config FILE or COMET_CONFIG, env, flags. */
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";

/** Throws a ConfigError for a bad config, which the CLI reports as it reports a bad flag: exit 2 (output.ts). */
export function readConfig(file: string | undefined, overrides: Record<string, unknown> = {}): Config {
  return loadConfig({ file: file ?? process.env.COMET_CONFIG, env: process.env, overrides });
}
