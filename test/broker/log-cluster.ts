/**
 * A cluster on the shared log for the tests: a real redis-server (or two, as shards), a real MQTT
 * broker (Mosquitto), and comet instances with history.store: redis and mqtt.forward_api.
 */
import { expect } from "bun:test";
import { TestBroker } from "../bridge/broker.ts";
import { type Comet, startComet, waitFor, waitReadyz } from "../bridge/util.ts";
import { Client, token } from "../helpers.ts";
import { TestRedis } from "./redis-server.ts";

export interface LogCluster {
  broker: TestBroker;
  redis: TestRedis[];
  instances: Comet[];
  yaml: string;
  /** Another instance of the same cluster. */
  add(): Promise<Comet>;
  stop(): Promise<void>;
}

export async function startLogCluster(
  opts: { instances?: number; shards?: number; extra?: string; fillWait?: string } = {},
): Promise<LogCluster> {
  const [broker, ...redis] = await Promise.all([
    TestBroker.start(),
    ...Array.from({ length: opts.shards ?? 1 }, () => TestRedis.start()),
  ]);
  const b = broker as TestBroker;
  const urls = (redis as TestRedis[]).map((r) => `"${r.url}"`).join(", ");
  const yaml = [
    `mqtt: {url: "${b.url}", forward_api: true${opts.extra ? `, ${opts.extra}` : ""}}`,
    `history: {store: redis, size: 1000, ttl: 1m, redis: {urls: [${urls}], fill_wait: ${opts.fillWait ?? "100ms"}}}`,
  ].join("\n");
  const instances = await Promise.all(Array.from({ length: opts.instances ?? 2 }, () => startComet(yaml)));
  await Promise.all(instances.map((c) => waitReadyz(c, 200)));
  return {
    broker: b,
    redis: redis as TestRedis[],
    instances,
    yaml,
    async add() {
      const c = await startComet(yaml);
      await waitReadyz(c, 200);
      instances.push(c);
      return c;
    },
    async stop() {
      await Promise.all(instances.map((c) => c.stop().catch(() => {})));
      await Promise.all((redis as TestRedis[]).map((r) => r.stop()));
      await b.stop();
    },
  };
}

export interface Push {
  evt: string;
  stream: string;
  seq: number;
  epoch: string;
}

/** The positioned PUSHes a client received, in order. */
export function positioned(c: Client): Push[] {
  return c.frames.filter((f) => f.t === "PUSH").map((f) => f.push as Push);
}

/** The HB frames that reported a recovery. */
export function reports(c: Client): Array<Record<string, boolean>> {
  return c.frames
    .filter((f) => f.t === "HB" && (f.hb as { recovered?: unknown }).recovered)
    .map((f) => (f.hb as { recovered: Record<string, boolean> }).recovered);
}

/** Every client got the same stream in the same order: seqs 1..n of one epoch, each evt once. */
export function expectOneOrder(clients: Client[], stream: string, n: number): Push[] {
  const first = positioned(clients[0] as Client).filter((p) => p.stream === stream);
  expect(first.map((p) => p.seq)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  expect(new Set(first.map((p) => p.epoch)).size).toBe(1);
  expect(new Set(first.map((p) => p.evt)).size).toBe(n);
  for (const c of clients.slice(1)) expect(positioned(c).filter((p) => p.stream === stream)).toEqual(first);
  return first;
}

/** A WebSocket session with positions, in a room or none, recovering from `recover` when given. */
export async function login(server: Comet, uid: string, opts: { rid?: string; recover?: unknown } = {}): Promise<Client> {
  const c = new Client(server.ws);
  await c.opened;
  const frame: Record<string, unknown> = { t: "AUTH", auth: { token: await token(uid) }, positions: true };
  if (opts.rid) frame.join = { rid: opts.rid };
  if (opts.recover) frame.recover = opts.recover;
  c.send(frame);
  await waitFor(() => server.hub.sessions.get(uid) !== undefined, `session ${uid}`);
  if (opts.recover) await c.until(() => reports(c).length > 0, 3000, "the recovery report");
  return c;
}
