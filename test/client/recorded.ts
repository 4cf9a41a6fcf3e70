/** The client tests' client: its events recorded in a Log, and closed after each test (closeClients). */
import { CometClient, type CometClientOptions, type CometState } from "../../src/client/index.ts";

export interface Log {
  pushes: string[];
  closes: Array<{ code: number; reason: string; state: CometState }>;
  states: CometState[];
  opens: number;
}

const clients: CometClient[] = [];

/** A client whose events are recorded; closed after each test. Fast backoff unless a test says otherwise. */
export function client(opts: CometClientOptions): { c: CometClient; log: Log } {
  const c = new CometClient({ backoffBase: 20, backoffMax: 100, ...opts });
  clients.push(c);
  const log: Log = { pushes: [], closes: [], states: [], opens: 0 };
  c.on("push", (evt) => log.pushes.push(evt))
    .on("close", (code, reason) => log.closes.push({ code, reason, state: c.state }))
    .on("state", (s) => log.states.push(s))
    .on("open", () => log.opens++);
  return { c, log };
}

/** Closes every client made since the last call: each test file's afterEach. */
export function closeClients(): void {
  for (const c of clients.splice(0)) c.close();
}
