/**
 * The webhook signature: `Comet-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
 * The timestamp is signed with the body, so that a backend can refuse a replay of an old request
 * (the README's verify helpers allow five minutes).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const SIGNATURE_HEADER = "Comet-Signature";

export function signWebhook(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.`).update(body).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

/** True when header signs body with secret, and its timestamp is within toleranceS of now. */
export function verifyWebhook(
  secret: string,
  body: string,
  header: string | null | undefined,
  toleranceS = 300,
  nowS = Math.floor(Date.now() / 1000),
): boolean {
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header ?? "");
  if (!m) return false;
  const t = Number(m[1]);
  if (Math.abs(nowS - t) > toleranceS) return false;
  const want = Buffer.from(signWebhook(secret, body, t).slice(-64), "hex");
  return timingSafeEqual(want, Buffer.from(m[2] as string, "hex"));
}
