/**
 * A Bun macro: runs when the server's source is transpiled or compiled, and inlines the client SDK
 * bundled as one ES module. So `dist/comet` carries the page's script inside it and nothing is
 * read from beside the source at run time.
 */
export function clientBundle(): string {
  const entry = `${import.meta.dir}/../client/index.ts`;
  const r = Bun.spawnSync([process.execPath, "build", entry, "--format=esm", "--target=browser"], {
    env: { ...process.env, BUN_BE_BUN: "1" },
  });
  if (r.exitCode !== 0) throw new Error(`bundling the client SDK failed: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
