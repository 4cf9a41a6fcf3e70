/** Helpers of the tests of delivery positions and recovery (test/e2e/positions, recovery). */
import { Client, type TestServer, token, waitFor } from "../helpers.ts";

export type Push = { evt: string; stream?: string; seq?: number; epoch?: string };

/** Opens a client and sends its AUTH (with extra fields); resolves once the server holds the session. */
export async function subscribe(
  server: TestServer,
  uid: string,
  extra: Record<string, unknown> = {},
  url = server.ws,
  tok?: string,
): Promise<Client> {
  const c = new Client(url);
  await c.opened;
  c.send({ t: "AUTH", auth: { token: tok ?? (await token(uid)) }, ...extra });
  const rid = (extra.join as { rid?: string } | undefined)?.rid;
  await waitFor(() => {
    const s = server.hub.sessions.get(uid);
    return s !== undefined && (rid === undefined || s.rid === rid);
  }, `session ${uid}`);
  return c;
}

export const pushesOf = (c: Client): Push[] => c.frames.filter((f) => f.t === "PUSH").map((f) => f.push as Push);

/** The position of the last PUSH of each stream a client received, as `recover` takes it. */
export function lastPositions(pushes: Push[]): Record<string, { epoch: string; seq: number }> {
  const out: Record<string, { epoch: string; seq: number }> = {};
  for (const p of pushes) {
    if (p.stream === undefined) continue;
    const key = p.stream === "u" || p.stream === "w" ? p.stream : "r";
    out[key] = { epoch: p.epoch as string, seq: p.seq as number };
  }
  return out;
}

/** Waits for the HB that reports a recovery; its `recovered`, and the index of its frame. */
export async function recoveredOf(c: Client, ms = 5000): Promise<{ recovered: Record<string, boolean>; at: number }> {
  type Hb = { recovered?: Record<string, boolean> } | undefined;
  const find = () => c.frames.findIndex((f) => f.t === "HB" && (f.hb as Hb)?.recovered !== undefined);
  await c.until(() => find() >= 0 || c.closeInfo !== undefined, ms, "the recovered report");
  const at = find();
  if (at < 0) throw new Error(`closed before the recovered report: ${JSON.stringify(c.closeInfo)}`);
  return { recovered: (c.frames[at]?.hb as Hb)?.recovered ?? {}, at };
}

/** The stream kind ("u", "r", "w") of a PUSH's stream name. */
export const kindOf = (stream: string | undefined): string => (stream === "u" || stream === "w" ? stream : "r");
