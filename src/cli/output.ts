/** How every command reports failure: one line on stderr naming the problem, a non-zero exit. */
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
  const msg = err instanceof Error ? err.message : String(err);
  process.stderr.write(`comet: ${msg.split("\n")[0]}\n`);
  process.exit(err instanceof CliError ? err.exitCode : 1);
}
