/**
 * Preloaded into a process under test (`bun --preload`): when it exits, writes the npm packages it
 * loaded to the file named by LOADED_PACKAGES_FILE, as a sorted JSON list. Bun's module registry
 * is read through require.cache, which holds ES modules as well as CommonJS ones (Deno has no such
 * registry: the tests that use this run on Bun only). Read by test/cli/serve-modules.test.ts.
 */
import { writeFileSync } from "node:fs";

/** The packages whose modules are loaded in this process, by name (`@scope/name` or `name`). */
export function loadedPackages(): string[] {
  const names = new Set<string>();
  for (const path of Object.keys(require.cache)) {
    // The last node_modules of the path: a package's own dependency counts as itself.
    const m = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
    if (m) names.add(m[1] as string);
  }
  return [...names].sort();
}

const out = process.env.LOADED_PACKAGES_FILE;
if (out) process.on("exit", () => writeFileSync(out, JSON.stringify(loadedPackages())));
