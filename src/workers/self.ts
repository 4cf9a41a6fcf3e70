/** How to start this same program again: the workers are copies of the supervisor's own command. */

/**
 * The argv prefix before `serve`: the executable alone for a compiled `dist/comet` (whose main
 * module lives in Bun's embedded file system, /$bunfs/), else the runtime and the script.
 */
export function selfArgv(): string[] {
  const script = process.argv[1] ?? "";
  const compiled = script.startsWith("/$bunfs/") || script.startsWith("B:/~BUN/") || script === "";
  return compiled ? [process.execPath] : [process.execPath, script];
}
