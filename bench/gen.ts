/**
 * A load generator process, driven by bench/run.ts over stdin/stdout (lib/rpc.ts). It holds
 * subscribers (lib/wsclients.ts), publishes over HTTP (lib/http.ts) or MQTT (lib/mqtt.ts), and
 * reports what it received. Runs pinned to the generators' core; exits when its stdin closes.
 */
import { makeEvt, makeJsonEvt, pushFrame } from "./lib/evt.ts";
import { runPosts } from "./lib/http.ts";
import { signToken } from "./lib/jwt.ts";
import { runMqttPublish } from "./lib/mqtt.ts";
import { type Request, serveRequests } from "./lib/rpc.ts";
import { Pool } from "./lib/wsclients.ts";
import { clientFrame } from "./lib/wsframes.ts";

/** What a publish request carries: a room broadcast, a floor publish, a Publish to a random user, or a Batch of them. */
export type BodySpec =
  | { kind: "broadcast"; rid: string; evtBytes: number; json?: boolean }
  | { kind: "floor"; evtBytes: number }
  | { kind: "unicast"; users: number; evtBytes: number }
  | { kind: "batch"; users: number; evtBytes: number; per: number };

/** Deterministic pseudo-random users, so runs are comparable. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
}

export function bodyMaker(spec: BodySpec): (i: number, tUs: number) => string {
  switch (spec.kind) {
    case "broadcast":
      if (spec.json) return (i, t) => JSON.stringify({ rid: spec.rid, evt: makeJsonEvt(i, t, spec.evtBytes) });
      return (i, t) => JSON.stringify({ rid: spec.rid, evt: makeEvt(i, t, spec.evtBytes) });
    case "floor":
      return (i, t) => pushFrame(makeEvt(i, t, spec.evtBytes));
    case "unicast": {
      const r = rng(42);
      return (i, t) => JSON.stringify({ uid: `u${Math.floor(r() * spec.users)}`, evt: makeEvt(i, t, spec.evtBytes) });
    }
    case "batch": {
      // Request i carries publishes i*per .. i*per+per-1, each to a random user.
      const r = rng(42);
      return (i, t) => {
        const parts = new Array<string>(spec.per);
        for (let k = 0; k < spec.per; k++) {
          const evt = makeEvt(i * spec.per + k, t, spec.evtBytes);
          parts[k] = `{"publish":{"uid":"u${Math.floor(r() * spec.users)}","evt":"${evt}"}}`;
        }
        return `{"commands":[${parts.join(",")}]}`;
      };
    }
  }
}

let pool: Pool | undefined;

/**
 * 64 loopback source addresses for this process's subscribers, 127.B.K.1 with B picked at random
 * so that a run does not land on the ports that an earlier run's sockets hold in TIME_WAIT.
 */
function sourceAddresses(): string[] {
  const b = 2 + Math.floor(Math.random() * 250);
  return Array.from({ length: 64 }, (_, k) => `127.${b}.${k}.1`);
}

async function handle(req: Request): Promise<Record<string, unknown>> {
  switch (req.cmd) {
    case "hello":
      return { pid: process.pid };
    case "subscribers": {
      const o = req as unknown as {
        host: string;
        port: number;
        path: string;
        from: number;
        count: number;
        secret: string;
        rid: string;
        concurrency: number;
        deflate?: boolean;
        sse?: boolean;
        /** Make the clients (tokens signed, frames built) and return: "reconnect" dials them. */
        defer?: boolean;
        handshakeMs?: number;
      };
      const frames: Uint8Array[] = [];
      const requests: Uint8Array[] = [];
      for (let i = 0; i < o.count; i++) {
        const token = signToken(o.secret, `u${o.from + i}`);
        if (o.sse) {
          const q = `${o.rid ? `rid=${encodeURIComponent(o.rid)}&` : ""}token=${token}`;
          requests.push(
            Buffer.from(
              `GET ${o.path}?${q} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nAccept: text/event-stream\r\n\r\n`,
            ),
          );
          continue;
        }
        const auth: Record<string, unknown> = { t: "AUTH", auth: { token } };
        if (o.rid) auth.join = { rid: o.rid };
        frames.push(clientFrame(JSON.stringify(auth)));
      }
      pool = new Pool({
        host: o.host,
        port: o.port,
        path: o.path,
        count: o.count,
        hello: (i) => frames[i],
        deflate: o.deflate,
        sse: o.sse ? (i) => requests[i] as Uint8Array : undefined,
        localAddresses: o.host.startsWith("127.") ? sourceAddresses() : undefined,
        handshakeMs: o.handshakeMs,
      });
      if (o.defer) return {};
      return { ...(await pool.connectAll(o.concurrency)) };
    }
    case "reconnect":
      // The clients a server closed or lost (a worker killed), connected and authenticated again.
      if (!pool) throw new Error("reconnect: no subscribers");
      if (req.port !== undefined) pool.retarget(Number(req.port));
      return { ...(await pool.connectAll(Number(req.concurrency ?? 256))) };
    case "reset":
      pool?.resetStats(Number(req.seqs ?? 0));
      return {};
    case "count":
      return { received: pool?.received ?? 0, upgraded: pool?.upgraded ?? 0 };
    case "stats":
      return pool ? { ...pool.stats(), upgraded: pool.upgraded } : {};
    case "storm":
      if (!pool) throw new Error("storm: no subscribers");
      return { ...(await pool.storm(Number(req.concurrency))) };
    case "close":
      pool?.closeAll();
      return {};
    case "posts": {
      const j = req as unknown as {
        host: string;
        port: number;
        path: string;
        headers: Record<string, string>;
        body: BodySpec;
        count: number;
        connections: number;
        rate: number;
        maxSeconds: number;
      };
      return { ...(await runPosts({ ...j, body: bodyMaker(j.body) })) };
    }
    case "mqtt": {
      const j = req as unknown as {
        host: string;
        port: number;
        topic: string;
        count: number;
        rate: number;
        users: number;
        evtBytes: number;
      };
      const r = rng(7);
      return {
        ...(await runMqttPublish({
          ...j,
          payload: (i, t) => JSON.stringify({ uid: `u${Math.floor(r() * j.users)}`, evt: makeEvt(i, t, j.evtBytes) }),
        })),
      };
    }
    default:
      throw new Error(`unknown command ${req.cmd}`);
  }
}

if (import.meta.main) await serveRequests(handle);
