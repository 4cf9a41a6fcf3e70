#!/usr/bin/env bun
import { main } from "../src/cli/program.ts";

await main(process.argv);
