/**
 * Errors that callers tell apart: each carries a stable `code`, so a caller branches on the code,
 * never on the wording of a message (which is for people and may change).
 */

/** A listener could not be opened: `key` names the config key of the address. */
export class ListenError extends Error {
  override name = "ListenError";
  constructor(
    readonly code: "address_in_use" | "listen_failed",
    /** The config key of the address: listen, grpc.listen, mqtt.embedded.listen. */
    readonly key: string,
    /** The address as configured, host:port. */
    readonly address: string,
    options?: { cause?: unknown },
  ) {
    super(
      `${key}: cannot listen on ${address}: ${code === "address_in_use" ? "address in use" : causeText(options?.cause)}`,
      options,
    );
  }

  /** A listen failure of the runtime or of node:net, with its code read from the error. */
  static from(key: string, address: string, err: unknown): ListenError {
    const code = (err as { code?: unknown })?.code;
    const inUse = code === "EADDRINUSE" || /EADDRINUSE|address (already )?in use/i.test(String(err));
    return new ListenError(inUse ? "address_in_use" : "listen_failed", key, address, { cause: err });
  }
}

function causeText(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
