/** Tokens issued at a chosen time, and what an AUTH with one comes to: for the tests of revocations. */
import { SignJWT } from "jose";
import { Client, NAMESPACE, SECRET, type TestServer, waitFor } from "../helpers.ts";

/** A subscriber token issued at `iat` (seconds; undefined: no iat claim at all). */
export async function tokenIssuedAt(uid: string, iat: number | undefined): Promise<string> {
  let j = new SignJWT({})
    .setProtectedHeader({ alg: "HS256" })
    .setIssuer(NAMESPACE)
    .setSubject(uid)
    .setExpirationTime(Math.floor(Date.now() / 1000) + 3600);
  if (iat !== undefined) j = j.setIssuedAt(iat);
  return j.sign(new TextEncoder().encode(SECRET));
}

/**
 * The close of a fresh WebSocket that AUTHs with tok, or "live" when its session started (then it
 * is closed again). The uid must have no session on server before.
 */
export async function authOutcome(
  server: TestServer,
  uid: string,
  tok: string,
): Promise<{ code: number; reason: string } | "live"> {
  const c = new Client(server.ws);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: tok } });
  const live = waitFor(() => server.hub.sessions.has(uid), `session ${uid}`, 3000).then(() => "live" as const);
  const out = await Promise.race([live.catch(() => c.closed), c.closed]);
  if (out === "live") {
    c.close();
    await c.closed;
  }
  return out;
}
