/**
 * Picks the runtime adapter once, at start: Bun (native topic fan-out) or Deno (a loop). Nothing
 * else in the code asks which runtime it is on.
 */
import type { Gateway } from "../gateway/gateway.ts";
import type { Fanout } from "./types.ts";

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { cert: string; key: string };
  gateway: Gateway;
  /** The fan-out this adapter's createFanout() made; the hub publishes through it. */
  fanout: Fanout;
  /** `path` is pathOf(req.url) when the adapter has it already. */
  routes: (req: Request, path?: string) => Response | Promise<Response>;
}

export interface Listener {
  readonly port: number;
  readonly hostname: string;
  stop(): Promise<void>;
}

export interface RuntimeAdapter {
  readonly name: "bun" | "deno";
  createFanout(): Fanout;
  listen(opts: ListenOptions): Promise<Listener>;
}

export const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== "undefined";

/** How a person runs a script of this project on the runtime that runs this one. */
export function runScriptCommand(script: string): string {
  return isBun ? `bun ${script}` : `deno run -A ${script}`;
}

export async function runtimeAdapter(): Promise<RuntimeAdapter> {
  if (isBun) return { name: "bun", ...(await import("./bun.ts")) };
  if (typeof (globalThis as { Deno?: unknown }).Deno !== "undefined")
    return { name: "deno", ...(await import("./deno.ts")) };
  throw new Error("comet serve runs on Bun or Deno");
}
