/**
 * mqtt.cluster_key: instances sign the activity they send, so that a client of a shared broker
 * who can publish on the activity topic cannot close sessions with a forged ONLINE. The signature
 * is an HMAC-SHA256 (hex) of the canonical fields, the JSON array [type, uid, rid, time, server]
 * with time as its decimal string: unambiguous whatever characters a uid or rid holds, and the
 * same bytes whatever form (string or number) the time came in.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export interface SignedFields {
  type: string;
  uid: string;
  rid: string;
  /** Nanoseconds since the epoch, as decimal digits. */
  time: string;
  server: string;
}

export function activitySignature(key: string, f: SignedFields): string {
  return listSignature(key, [f.type, f.uid, f.rid, f.time, f.server]);
}

/**
 * The HMAC-SHA256 (hex) of a JSON array of strings, its first the kind of message: activity,
 * statuses and views sign five fields; the cluster DumpSession's requests and answers (gather.ts)
 * sign their own lists, whose first string no other kind uses.
 */
export function listSignature(key: string, fields: readonly string[]): string {
  return createHmac("sha256", key).update(JSON.stringify(fields)).digest("hex");
}

/** True when sig is listSignature(key, fields); compared in constant time. */
export function listSignatureValid(key: string, fields: readonly string[], sig: unknown): boolean {
  if (typeof sig !== "string" || sig.length !== 64) return false;
  const want = Buffer.from(listSignature(key, fields), "hex");
  const got = Buffer.from(sig, "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}

/** True when sig is the signature of these fields under key; compared in constant time. */
export function signatureValid(key: string, f: SignedFields, sig: string | undefined): boolean {
  return listSignatureValid(key, [f.type, f.uid, f.rid, f.time, f.server], sig);
}
