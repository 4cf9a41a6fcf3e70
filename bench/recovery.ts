/**
 * The server's cost of one recovery: a client reconnects with `recover` 32 messages behind on its
 * user's stream, and the server replays them (History.recover, 32 positioned frames encoded and
 * sent on a real WebSocket) and reports. Hub.recover runs synchronously, so its wall time is CPU
 * time of the server's one JavaScript thread; it is timed around that call, in process.
 *
 *   npx bun bench/recovery.ts [--recoveries 2000] [--messages 32] [--evt-bytes 100]
 */
import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { loadConfig } from "../src/config/load.ts";
import type { Hub } from "../src/hub/hub.ts";
import { startServer } from "../src/server.ts";

const { values } = parseArgs({
  options: {
    recoveries: { type: "string", default: "2000" },
    messages: { type: "string", default: "32" },
    "evt-bytes": { type: "string", default: "100" },
  },
});
const RECOVERIES = Number(values.recoveries);
const MESSAGES = Number(values.messages);
const EVT_BYTES = Number(values["evt-bytes"]);

const SECRET = "bench-secret-bench-secret-bench-secret-0123";
const config = loadConfig({
  env: { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: "bench-admin-token-0123456789" },
  overrides: { listen: "127.0.0.1:0", "log.level": "warn" },
});
const server = await startServer(config);
const hub: Hub = server.hub;
const ws = `${server.url.replace("http", "ws")}/comet/Comet/Subscribe`;
const token = await new SignJWT({})
  .setProtectedHeader({ alg: "HS256" })
  .setIssuer(config.namespace)
  .setSubject("bench-user")
  .setExpirationTime("1h")
  .sign(new TextEncoder().encode(SECRET));

// Timed around the one synchronous call that does the work: wall time, and the process's CPU time
// (user + system; other threads of the process count too, so it is an upper bound). On a busy
// machine the wall time also holds the moments the thread was not running; the CPU time does not.
const samples: number[] = [];
const cpuSamples: number[] = [];
const recover = hub.recover.bind(hub);
hub.recover = (s, r) => {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  recover(s, r);
  samples.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpuSamples.push((c.user + c.system) / 1000);
};

/** One connection: AUTH (with recover when given), resolves with the frames once `until` holds. */
function session(frame: Record<string, unknown>, until: (frames: string[]) => boolean): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = new WebSocket(ws);
    const frames: string[] = [];
    c.onopen = () => c.send(JSON.stringify({ t: "AUTH", auth: { token }, ...frame }));
    c.onmessage = (e) => {
      frames.push(e.data as string);
      if (until(frames)) {
        c.close();
        resolve(frames);
      }
    };
    c.onerror = () => reject(new Error("websocket error"));
  });
}

// A first session makes the user's stream; 32 messages go to it while the user is away.
const first = new WebSocket(ws);
await new Promise((r) => (first.onopen = r));
first.send(JSON.stringify({ t: "AUTH", auth: { token }, positions: true }));
while (!hub.sessions.has("bench-user")) await Bun.sleep(5);
first.close();
while (hub.sessions.has("bench-user")) await Bun.sleep(5);
const pad = "x".repeat(Math.max(0, EVT_BYTES - 8));
for (let i = 0; i < MESSAGES; i++) {
  hub.deliver({ kind: "publish", uid: "bench-user", evt: `${String(i).padStart(8, "0")}${pad}` });
}
const stream = hub.history.user("bench-user", Date.now());
if (!stream) throw new Error("no stream for bench-user");
const recoverFrame = { recover: { u: { epoch: stream.epoch, seq: stream.seq - MESSAGES } } };

const done = (frames: string[]) => frames.some((f) => f.includes('"recovered"'));
for (let i = 0; i < RECOVERIES; i++) {
  const frames = await session(recoverFrame, done);
  const replayed = frames.filter((f) => f.startsWith('{"t":"PUSH"')).length;
  if (replayed !== MESSAGES || !frames.at(-1)?.includes('"recovered":{"u":true}')) {
    throw new Error(`recovery ${i}: ${replayed} messages replayed, last frame ${frames.at(-1)}`);
  }
}
await server.stop();

samples.sort((a, b) => a - b);
cpuSamples.sort((a, b) => a - b);
const at = (q: number, list = samples) => list[Math.min(list.length - 1, Math.floor(q * list.length))] as number;
const us = (ms: number) => Math.round(ms * 1000);
const cpuTotal = cpuSamples.reduce((a, b) => a + b, 0);
console.log(
  JSON.stringify({
    scenario: "recovery",
    runtime: `bun ${Bun.version}`,
    recoveries: samples.length,
    messages: MESSAGES,
    evt_bytes: EVT_BYTES,
    wall_us_p50: us(at(0.5)),
    wall_us_p90: us(at(0.9)),
    wall_us_p99: us(at(0.99)),
    wall_us_max: us(samples.at(-1) as number),
    cpu_us_mean: us(cpuTotal / cpuSamples.length),
    cpu_us_p50: us(at(0.5, cpuSamples)),
    cpu_us_p99: us(at(0.99, cpuSamples)),
  }),
);
