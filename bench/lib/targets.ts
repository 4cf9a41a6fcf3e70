/**
 * The servers under test: Comet itself (bin/comet.ts serve), or the floor (bench/floor-server.ts).
 * Each is started fresh, pinned to the server core, and seen through the same small interface.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import type { BodySpec } from "../gen.ts";
import { sleep } from "./clock.ts";
import { bunPath, childPid, cpuSeconds, cpuSplit, freePort, rssKiB, SERVER_CPU, spawnPinned, stopProcess } from "./procs.ts";

export const SECRET = "comet-bench-secret-0123456789abcdef";
export const ADMIN = "comet-bench-admin";
export const HOST = "127.0.0.1";

export interface Target {
  kind: "comet" | "floor";
  host: string;
  port: number;
  pid: number;
  wsPath: string;
  /** The HTTP request that broadcasts one evt to the bench room. */
  /** `json`: an evt like an application's JSON (evt.ts makeJsonEvt) rather than padding. */
  broadcast(
    rid: string,
    evtBytes: number,
    json?: boolean,
  ): { path: string; headers: Record<string, string>; body: BodySpec };
  /** The HTTP request that publishes one evt to one user ({"uid","evt"} body). */
  unicast(): { path: string; headers: Record<string, string> };
  /** Where a batch of Publishes goes (Comet's Batch body on both). */
  batch(): { path: string; headers: Record<string, string> };
  /** Sockets subscribed: authenticated sessions (Comet) or topic subscribers (floor). */
  subscribed(): Promise<number>;
  /** Comet's /metrics as name → value (unlabelled series only); {} for the floor. */
  metrics(): Promise<Record<string, number>>;
  cpuS(): number;
  /** The part of cpuS() spent in the kernel. */
  sysS(): number;
  rssKiB(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  root: string;
  maxSeconds: number;
  /** Extra YAML for Comet's config file. */
  extraYaml?: string;
  /** The MQTT broker events come from: Comet's mqtt.url, the floor's --mqtt. */
  mqttUrl?: string;
  logLevel?: string;
  /** Write a CPU profile of the server (bun --cpu-prof) into this folder when it stops. */
  cpuProfDir?: string;
  /** Comet under Bun (default) or Deno (deno run -A, from the npm package). */
  runtime?: "bun" | "deno";
  /** Comet's --workers; more than 1 runs it on every CPU (the generators' too), its processes summed. */
  workers?: number;
}

/** A process and every process under it (a supervisor's workers), by /proc's children lists. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    try {
      const kids = readFileSync(`/proc/${out[i]}/task/${out[i]}/children`, "utf8").trim();
      if (kids) out.push(...kids.split(/\s+/).map(Number));
    } catch {
      // gone
    }
  }
  return out;
}

/** Summed over the processes alive now: one that exited (a restarted worker) takes its CPU time with it. */
const sumOver = (pids: number[], f: (pid: number) => number): number => {
  let s = 0;
  for (const p of pids) {
    try {
      s += f(p);
    } catch {
      // exited
    }
  }
  return s;
};

const profArgs = (o: StartOptions): string[] => (o.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProfDir] : []);

/** Comet refused to start: its message (e.g. an unknown config key). */
export class Refused extends Error {}

async function waitHealthy(proc: Subprocess, url: string, stderr: () => string, what: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (proc.exitCode !== null) throw new Refused(`${what} exited ${proc.exitCode}: ${stderr().trim()}`);
    try {
      const r = await fetch(url);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(25);
  }
  throw new Error(`${what} did not answer ${url} within 15 s: ${stderr().trim()}`);
}

function collect(stream: ReadableStream<Uint8Array> | undefined): () => string {
  let text = "";
  if (stream) {
    void (async () => {
      const dec = new TextDecoder();
      for await (const c of stream) {
        text += dec.decode(c, { stream: true });
        if (text.length > 65536) text = text.slice(-32768);
      }
    })();
  }
  return () => text;
}

export async function startComet(o: StartOptions): Promise<Target> {
  const dir = mkdtempSync(join(tmpdir(), "comet-bench-"));
  const cfg = join(dir, "comet.yaml");
  writeFileSync(
    cfg,
    [
      "namespace: io.goeasy",
      "auth:",
      "  jwt:",
      `    hs256_secret: "${SECRET}"`,
      "admin:",
      `  tokens: ["${ADMIN}"]`,
      "log:",
      `  level: ${o.logLevel ?? "warn"}`,
      o.mqttUrl ? `mqtt:\n  url: ${o.mqttUrl}` : "",
      o.extraYaml ?? "",
    ].join("\n"),
  );
  const port = freePort();
  const workers = o.workers ?? 1;
  const proc = spawnPinned(
    workers > 1 ? "0,1" : SERVER_CPU,
    [
      ...(o.runtime === "deno" ? [`${o.root}/node_modules/.bin/deno`, "run", "-A"] : [bunPath(), ...profArgs(o)]),
      `${o.root}/bin/comet.ts`,
      "serve",
      "--config",
      cfg,
      "--listen",
      `${HOST}:${port}`,
      ...(workers > 1 ? ["--workers", String(workers)] : []),
    ],
    o.maxSeconds,
    { stderr: "pipe", stdout: "ignore" },
  );
  const stderr = collect(proc.stderr as ReadableStream<Uint8Array>);
  const base = `http://${HOST}:${port}`;
  try {
    // Workers: ready once every worker's bridge is up (a broadcast before then misses a worker).
    await waitHealthy(proc, `${base}/${workers > 1 ? "readyz" : "healthz"}`, stderr, "comet");
  } catch (e) {
    await stopProcess(proc);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const pid = await childPid(proc);
  const auth = { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" };
  const metrics = async (): Promise<Record<string, number>> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const out: Record<string, number> = {};
    for (const line of text.split("\n")) {
      const m = /^([a-z_]+) (\S+)$/.exec(line);
      if (m) out[m[1] as string] = Number(m[2]);
    }
    return out;
  };
  return {
    kind: "comet",
    host: HOST,
    port,
    pid,
    wsPath: "/comet/Comet/Subscribe",
    broadcast: (rid, evtBytes, json) => ({
      path: "/comet/Comet/Broadcast",
      headers: auth,
      body: { kind: "broadcast", rid, evtBytes, json },
    }),
    unicast: () => ({ path: "/comet/Comet/Publish", headers: auth }),
    batch: () => ({ path: "/comet/Comet/Batch", headers: auth }),
    subscribed: async () => (await metrics()).comet_sessions ?? 0,
    metrics,
    cpuS: () => sumOver(processTree(pid), cpuSeconds),
    sysS: () => sumOver(processTree(pid), (p) => cpuSplit(p).sys),
    rssKiB: () => sumOver(processTree(pid), rssKiB),
    async stop() {
      await stopProcess(proc);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function startFloor(o: StartOptions): Promise<Target> {
  const port = freePort();
  const proc = spawnPinned(
    SERVER_CPU,
    [
      bunPath(),
      ...profArgs(o),
      `${o.root}/bench/floor-server.ts`,
      "--listen",
      `${HOST}:${port}`,
      ...(o.mqttUrl ? ["--mqtt", o.mqttUrl] : []),
    ],
    o.maxSeconds,
    { stderr: "pipe", stdout: "ignore" },
  );
  const stderr = collect(proc.stderr as ReadableStream<Uint8Array>);
  const base = `http://${HOST}:${port}`;
  await waitHealthy(proc, `${base}/healthz`, stderr, "floor server");
  const pid = await childPid(proc);
  return {
    kind: "floor",
    host: HOST,
    port,
    pid,
    wsPath: "/",
    broadcast: (_rid, evtBytes) => ({ path: "/publish", headers: {}, body: { kind: "floor", evtBytes } }),
    unicast: () => ({ path: "/unicast", headers: {} }),
    batch: () => ({ path: "/batch", headers: {} }),
    subscribed: async () => ((await (await fetch(`${base}/count`)).json()) as { subscribers: number }).subscribers,
    metrics: async () => ({}),
    cpuS: () => cpuSeconds(pid),
    sysS: () => cpuSplit(pid).sys,
    rssKiB: () => rssKiB(pid),
    stop: () => stopProcess(proc),
  };
}
