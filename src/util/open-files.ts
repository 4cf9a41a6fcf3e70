/**
 * This process's open-file limit (the soft RLIMIT_NOFILE): every connection is a file, so it is
 * what a process can hold. Neither Bun nor Node nor Deno reads it directly: Linux says it in
 * /proc/self/limits; elsewhere a shell's `ulimit -n` says it (a child has its parent's limit).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** The soft limit in /proc/self/limits's text; undefined for "unlimited" or a text without it. */
export function parseLimits(text: string): number | undefined {
  const m = /^Max open files\s+(\S+)/m.exec(text);
  return m ? whole(m[1] as string) : undefined;
}

const whole = (s: string): number | undefined => {
  const n = Number(s.trim());
  return Number.isInteger(n) && n > 0 ? n : undefined;
};

/** The soft open-file limit, or undefined when there is none or it cannot be read. */
export function openFileLimit(): number | undefined {
  try {
    return parseLimits(readFileSync("/proc/self/limits", "utf8"));
  } catch {
    // Not Linux: ask a shell.
  }
  try {
    return whole(execFileSync("sh", ["-c", "ulimit -n"], { encoding: "utf8", timeout: 2000 }));
  } catch {
    return undefined;
  }
}
