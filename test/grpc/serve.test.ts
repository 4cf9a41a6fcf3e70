/** `comet serve` as a process: grpc.listen off by default, on in --dev, bad values named. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ADMIN, readUntil, SECRET } from "../helpers.ts";
import { call, grpcClient, type TestServer } from "./helpers.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

function comet(args: string[], env: Record<string, string> = {}) {
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("COMET_")) base[k] = v;
  return Bun.spawn([process.execPath, join(ROOT, "bin/comet.ts"), ...args], {
    cwd: ROOT,
    env: { ...base, ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

const asServer = (grpcPort: number) => ({ grpcPort }) as TestServer;

describe("comet serve and grpc.listen", () => {
  test("off unless set: the listening line names no gRPC port", async () => {
    const p = comet(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: ADMIN,
    });
    const out = await readUntil(p.stderr, /"msg":"listening".*\n/);
    expect(out).not.toContain('"grpc"');
    p.kill("SIGKILL");
    await p.exited;
  });

  test("set: it serves gRPC there with the admin tokens of the HTTP API", async () => {
    const p = comet(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: ADMIN,
      COMET_GRPC_LISTEN: "127.0.0.1:0",
    });
    const out = await readUntil(p.stderr, /"msg":"listening".*\n/);
    const port = Number(/"grpc":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1]);
    const client = grpcClient(asServer(port));
    expect(await call(client, "DumpSession", {})).toEqual({ err: null, res: { world: [], rooms: [], unanswered: [] } });
    client.close();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  test("--dev turns it on, on loopback, and prints where", async () => {
    // With --listen on port 0, dev mode picks an ephemeral gRPC port too (else 127.0.0.1:9090).
    const p = comet(["serve", "--dev", "--listen", "127.0.0.1:0"]);
    const banner = await readUntil(p.stderr, /={20,}\n\s*\n/);
    const port = Number(/gRPC \(comet\.Comet\) on 127\.0\.0\.1:(\d+)/.exec(banner)?.[1]);
    expect(port).toBeGreaterThan(0);
    const admin = /COMET_ADMIN_TOKEN=(\S+)/.exec(banner)?.[1] as string;
    const client = grpcClient(asServer(port));
    expect((await call(client, "DumpSession", {}, admin)).err).toBeNull();
    expect((await call(client, "DumpSession", {}, "wrong")).err?.details).toBe("missing or wrong admin bearer token");
    client.close();
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });

  test("a bad grpc.listen stops it with the key named; --dev refuses a non-loopback one", async () => {
    const bad = comet(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: ADMIN,
      COMET_GRPC_LISTEN: "nowhere",
    });
    expect(await bad.exited).not.toBe(0);
    expect(await new Response(bad.stderr).text()).toContain(
      'config: grpc.listen: expected HOST:PORT like "0.0.0.0:8080", got "nowhere"',
    );
    const open = comet(["serve", "--dev", "--listen", "127.0.0.1:0"], { COMET_GRPC_LISTEN: "0.0.0.0:0" });
    expect(await open.exited).toBe(2);
    expect(await new Response(open.stderr).text()).toContain("--dev binds to loopback only, got grpc.listen 0.0.0.0:0");
  });
});
