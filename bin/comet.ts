#!/usr/bin/env bun
import { holdHangups } from "../src/cli/early-signals.ts";

// Before the program loads (a dynamic import, so that it comes after): a SIGHUP meanwhile must not
// end a `comet serve` that is starting. Other commands keep SIGHUP's default (a closed terminal ends them).
if (process.argv[2] === "serve") holdHangups();
const { main } = await import("../src/cli/program.ts");
await main(process.argv);
