/**
 * Which runtime the server under test runs on. `bun test` alone runs every server in this process
 * (Bun); with COMET_TEST_RUNTIME=deno the same test files talk to servers in Deno processes.
 */
import { resolve } from "node:path";

export type TestRuntime = "bun" | "deno";

function pick(raw: string | undefined): TestRuntime {
  if (raw === undefined || raw === "" || raw === "bun") return "bun";
  if (raw === "deno") return "deno";
  throw new Error(`COMET_TEST_RUNTIME: expected bun or deno, got ${JSON.stringify(raw)}`);
}

export const TEST_RUNTIME: TestRuntime = pick(process.env.COMET_TEST_RUNTIME);

export const ROOT = resolve(import.meta.dirname, "../..");

/** The Deno that `npm install` put in node_modules (the `deno` package), so no global install is needed. */
export const DENO = resolve(ROOT, "node_modules/.bin/deno");
