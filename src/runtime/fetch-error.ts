/**
 * Why a fetch() failed, as a Node-style code. Bun puts the code on the error (ECONNREFUSED); Deno
 * throws "fetch failed" and says why only in the message of the error's cause
 * ("... tcp connect error: Connection refused (os error 111)"), so that is read too.
 */
const DENO_CAUSES: ReadonlyArray<[RegExp, string]> = [
  [/connection refused/i, "ECONNREFUSED"],
  [/dns error|failed to lookup address/i, "ENOTFOUND"],
  [/connection closed before message completed|connection reset/i, "ECONNRESET"],
];

export function fetchErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { message?: unknown } } | null;
  if (typeof e?.code === "string") return e.code;
  const cause = e?.cause?.message;
  if (typeof cause !== "string") return undefined;
  return DENO_CAUSES.find(([re]) => re.test(cause))?.[1];
}
