/**
 * One comet server in a Deno process, for the test suite's Deno run (test/support/remote.ts starts
 * it). It calls startServer here, under Deno, exactly as the Bun run does in its own process, and
 * streams what the tests look at in process (sessions, rooms, connections, activity, log lines)
 * to stdout as JSON lines, in the order it happened; stdin carries the few commands a test gives.
 *
 * Each line is written synchronously at the moment of the change, before the server can answer
 * anyone: whatever a client then sees of the server, this stream has already said.
 *
 * Run: deno run -A test/support/deno-server.ts '{"yaml":"...","env":{...},"listen":"127.0.0.1:0","log":false}'
 */
import type { Connection } from "../../src/gateway/connection.ts";
import { createLogger } from "../../src/log.ts";
import type { Client } from "../../src/gateway/gateway.ts";
import type { PushSocket } from "../../src/runtime/types.ts";
import { type RunningServer, startServer } from "../../src/server.ts";
import { testConfig } from "../helpers.ts";
import type { Command, Event, StartParams } from "./protocol.ts";

const encoder = new TextEncoder();

function emit(e: Event): void {
  const bytes = encoder.encode(`${JSON.stringify(e)}\n`);
  for (let off = 0; off < bytes.length; ) off += Deno.stdout.writeSync(bytes.subarray(off));
}

const params = JSON.parse(Deno.args[0] ?? "{}") as StartParams;
const log = params.log ? createLogger("debug", "json", (line) => emit({ k: "log", line })) : undefined;

let server: RunningServer;
try {
  server = await startServer(testConfig(params.yaml, params.env, params.listen), log);
} catch (err) {
  emit({ k: "failed", message: (err as Error).message });
  Deno.exit(1);
}

// Connection ids, so that a test can point at one (close it) and a session at its connection.
const ids = new WeakMap<object, number>();
const byId = new Map<number, Connection>();
let lastId = 0;

// These hooks go in before this process returns to its event loop after startServer, so no
// socket can have opened and no session started unseen, even on a fixed port a client retries.
const { hub, gateway } = server;
const connect = gateway.connect.bind(gateway);
gateway.connect = (socket: PushSocket, client: Client) => {
  const connected = connect(socket, client);
  if (connected.ok) {
    const c = connected.events as Connection;
    ids.set(c, ++lastId);
    byId.set(lastId, c);
    emit({ k: "open", c: lastId });
  }
  return connected;
};
const closed = gateway.closed.bind(gateway);
gateway.closed = (c, code, reason, session) => {
  closed(c, code, reason, session);
  const id = ids.get(c);
  if (id === undefined) return;
  byId.delete(id);
  emit({ k: "closed", c: id });
};
hub.onActivity((a) => {
  if (a.type !== "ONLINE") {
    emit({ k: "act", a });
    return;
  }
  const s = hub.sessions.get(a.uid);
  emit({ k: "act", a, birth: s?.birth, c: s ? ids.get(s.link) : undefined });
});

const embedded = server.bridge?.embedded;
emit({
  k: "started",
  url: server.url,
  port: server.port,
  bridge: server.bridge
    ? { id: server.bridge.id, embedded: embedded ? { url: embedded.url, port: embedded.port } : undefined }
    : undefined,
});

const quietLink = { transport: "websocket" as const, send() {}, subscribe() {}, unsubscribe() {}, kick() {} };

/** Set by the first drain or stop: the server's end, after which this process lets go of stdin. */
let ending: Promise<void> | undefined;
let ended: (v: null) => void = () => {};
const whenEnded = new Promise<null>((resolve) => {
  ended = resolve;
});

function end(how: () => Promise<void>, id: number): void {
  if (!ending) {
    ending = how();
    ending.then(
      () => ended(null),
      () => ended(null),
    );
  }
  ending.then(
    () => emit({ k: "ack", id }),
    (err: Error) => emit({ k: "ack", id, error: err.message }),
  );
}

// Not awaited one by one: a sync must be answered while a drain is still closing sessions.
function handle(cmd: Command): void {
  switch (cmd.op) {
    case "sync":
      break;
    case "close":
      byId.get(cmd.c)?.close(cmd.code, cmd.reason);
      break;
    case "quiet":
      for (const { uid, rid } of cmd.sessions) {
        const s = hub.login(uid, quietLink);
        if (rid) hub.join(s, rid);
      }
      break;
    case "drain":
      end(() => {
        const done = server.drain();
        emit({ k: "draining" });
        return done;
      }, cmd.id);
      return;
    case "stop":
      end(() => server.stop(), cmd.id);
      return;
  }
  emit({ k: "ack", id: cmd.id });
}

// After the end, stdin is let go, so the process exits by itself once the server has released
// everything it held (a leaked timer or socket shows as a process that does not exit). The
// parent's death closes stdin, which ends the server too.
const reader = Deno.stdin.readable.getReader();
const decoder = new TextDecoder();
let buffered = "";
for (;;) {
  const r = await Promise.race([reader.read(), whenEnded]);
  if (r === null) break;
  if (r.done) {
    end(() => server.stop(), 0);
    await whenEnded;
    break;
  }
  buffered += decoder.decode(r.value, { stream: true });
  let nl = buffered.indexOf("\n");
  while (nl >= 0) {
    handle(JSON.parse(buffered.slice(0, nl)) as Command);
    buffered = buffered.slice(nl + 1);
    nl = buffered.indexOf("\n");
  }
}
await reader.cancel();
