/** How every command reports failure: one line on stderr naming the problem, a non-zero exit. */
import { ConfigError } from "../errors.ts";

export class CliError extends Error {
  override name = "CliError";
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Usage errors (a flag missing or wrong) exit 2, like commander's own. */
export const usageError = (message: string): CliError => new CliError(message, 2);

export function fail(err: unknown): never {
  // The reader went away (`comet dump | head`): nothing is wrong and nobody is left to tell.
  if (isBrokenPipe(err)) process.exit(0);
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`comet: ${msg.split("\n")[0]}\n`);
  // A bad config exits like a bad flag, wherever it is found: in the loader or in a check at start.
  process.exit(err instanceof CliError ? err.exitCode : err instanceof ConfigError ? 2 : 1);
}

/**
 * Commander's own errors (a missing required flag, an unknown option) as one line that names the
 * flag and where help is, like every other failure; commander would add a second line or the whole help.
 */
export function oneLineErrors(command: string) {
  return {
    outputError(str: string, write: (s: string) => void): void {
      const msg = str
        .replace(/^error: /, "")
        .trim()
        .replace(/\s*\n\s*/g, " ");
      write(`${command.replace(/^comet /, "comet: ")}: ${msg} (see ${command} --help)\n`);
    },
  };
}

export const isBrokenPipe = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === "EPIPE";
