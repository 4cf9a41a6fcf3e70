/** The Deno APIs the test server process (deno-server.ts) uses, beside those of src/runtime/deno-globals.d.ts. */
declare namespace Deno {
  const args: string[];
  const stdin: { readonly readable: ReadableStream<Uint8Array> };
  const stdout: { writeSync(p: Uint8Array): number };
  function exit(code?: number): never;
}
