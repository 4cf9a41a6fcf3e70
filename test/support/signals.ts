/** Which signals a process catches (Linux: /proc/<pid>/status, SigCgt): when a handler is in place. */
import { readFileSync } from "node:fs";

/** Whether the process catches signal n now. */
export function caught(pid: number, n: number): boolean {
  let status = "";
  try {
    status = readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {}
  const mask = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1];
  return mask !== undefined && (BigInt(`0x${mask}`) & (1n << BigInt(n - 1))) !== 0n;
}

/** Waits until the process catches signal n, looking every millisecond. */
export async function catches(pid: number, n: number, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!caught(pid, n)) {
    if (Date.now() > deadline) throw new Error(`process ${pid} did not catch signal ${n} within ${ms} ms`);
    await Bun.sleep(1);
  }
}
