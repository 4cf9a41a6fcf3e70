/**
 * Picks the runtime adapter once, at start: Bun (native topic fan-out) or Deno (a loop). Nothing
 * else in the code asks which runtime it is on; it asks for a capability.
 */
import type { Capabilities, RuntimeAdapter } from "./types.ts";

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";
const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";

/** What the runtime running this process can do. */
export const capabilities: Capabilities = isBun
  ? { grpc: true, demoPage: true, compression: true, workers: true }
  : { grpc: false, demoPage: false, compression: false, workers: false };

/** The runtime's name, for messages only: code asks for a capability, never for the name. */
export const runtimeName: string = isBun ? "bun" : isDeno ? "deno" : "this runtime";

/** How a person runs a script of this project on the runtime that runs this one. */
export function runScriptCommand(script: string): string {
  return isBun ? `bun ${script}` : `deno run -A ${script}`;
}

export async function runtimeAdapter(): Promise<RuntimeAdapter> {
  if (isBun) return { name: "bun", capabilities, ...(await import("./bun.ts")) };
  if (isDeno) return { name: "deno", capabilities, ...(await import("./deno.ts")) };
  throw new Error("comet serve runs on Bun or Deno");
}
