/** A token that cannot be accepted; `reason` is safe to show (never contains the token). */
export class AuthError extends Error {
  override name = "AuthError";
  constructor(
    readonly reason: string,
    readonly kind: "missing" | "invalid" | "expired" | "issuer" | "audience" | "claims" | "revoked",
  ) {
    super(reason);
  }
}
