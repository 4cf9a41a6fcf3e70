/**
 * Errors that callers tell apart: each carries a stable `code`, so a caller branches on the code,
 * never on the wording of a message (which is for people and may change).
 */

/**
 * A configuration Comet must not start with, wherever it is found: in the loader, or in a check at
 * start that reads a key's file or weighs keys together. Branch on the class, on `code` or on `key`:
 * the message is written for whoever edits the file and may be reworded. It reads
 * `config: [where: ]key[ (from ENV)]: detail`, so the key is what a reader sees first.
 */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code = "config_invalid";
  constructor(
    /**
     * The key at fault, dotted as in the file (`admin.tokens[0]` for an entry of a list); undefined
     * when it is the file itself (unreadable, not YAML).
     */
    readonly key: string | undefined,
    /** What was expected and what came; never a secret's value. */
    detail: string,
    /** `at`: FILE:LINE in the file; `from`: the environment variable the value came from. */
    where: { at?: string; from?: string } = {},
  ) {
    const at = where.at === undefined ? "" : `${where.at}: `;
    const named = key === undefined ? "" : `${key}${where.from === undefined ? "" : ` (from ${where.from})`}: `;
    super(`config: ${at}${named}${detail}`);
  }
}

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
