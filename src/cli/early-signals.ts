/**
 * Loading the program takes a good part of a second, and SIGHUP's default action ends the process
 * (exit 129): an operator's reload, or a terminal's hangup, that came while a `comet serve` was
 * still loading would stop it. bin/comet.ts holds SIGHUP from its first line, before it loads the
 * rest; serve takes over what came meanwhile once its own handlers are in place. No import here:
 * this module must load at once.
 */
const held: string[] = [];
let holder: (() => void) | undefined;

/** From now on SIGHUP is kept for serve instead of ending the process. */
export function holdHangups(): void {
  if (holder) return;
  holder = () => held.push("SIGHUP");
  process.on("SIGHUP", holder);
}

/** The SIGHUPs held so far; the holder goes (call it once serve listens for SIGHUP itself). */
export function takeHeldSignals(): string[] {
  if (holder) process.off("SIGHUP", holder);
  holder = undefined;
  return held.splice(0);
}
