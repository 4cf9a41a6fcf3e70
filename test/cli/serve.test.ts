import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ADMIN, readUntil, SECRET, token } from "../helpers.ts";
import { TEST_RUNTIME } from "../support/runtime.ts";
import { caught, catches } from "../support/signals.ts";
import { ROOT, SOURCE } from "./run.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-serve-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const baseEnv = (): Record<string, string> => {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith("COMET_")) env[k] = v;
  return env;
};

function comet(args: string[], env: Record<string, string> = {}) {
  return Bun.spawn([...SOURCE.argv(), ...args], {
    cwd: ROOT,
    env: { ...baseEnv(), ...env },
    stdout: "pipe",
    stderr: "pipe",
  });
}

async function run(args: string[], env: Record<string, string> = {}) {
  const p = comet(args, env);
  const [stdout, stderr, code] = await Promise.all([
    new Response(p.stdout).text(),
    new Response(p.stderr).text(),
    p.exited,
  ]);
  return { stdout, stderr, code };
}

describe("comet serve", () => {
  test("refuses to start without a JWT key, saying what to set", async () => {
    const r = await run(["serve", "--listen", "127.0.0.1:0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no JWT key configured: set auth.jwt.hs256_secret");
    expect(r.stderr).toContain("--dev");
  });

  test("refuses to start without admin tokens", async () => {
    const r = await run(["serve", "--listen", "127.0.0.1:0"], { COMET_AUTH_JWT_HS256_SECRET: SECRET });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("no admin token configured: set admin.tokens");
  });

  test("an unknown key in the file stops it with a message that names the key", async () => {
    const file = join(dir, "unknown.yaml");
    writeFileSync(file, "heartbeat:\n  intervall: 30s\n");
    const r = await run(["serve", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe("comet: config: heartbeat.intervall: unknown key (known here: interval)");
  });

  test("a bad value from COMET_CONFIG's file, and a bad flag, name the key", async () => {
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "limits:\n  max_connections: lots\n");
    const r = await run(["serve"], { COMET_CONFIG: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('config: limits.max_connections: expected a whole number, got "lots"');
    const flag = await run(["serve", "--listen", "nowhere"]);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain('config: listen: expected HOST:PORT like "0.0.0.0:8080", got "nowhere"');
  });

  test("a duplicate key stops it, named by its path and line", async () => {
    const file = join(dir, "dup.yaml");
    writeFileSync(file, "namespace: a\nlimits:\n  max_connections: 1\n  max_connections: 2\n");
    const r = await run(["serve", "--config", file]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`comet: config: ${file}:4: limits.max_connections: key given twice`);
  });

  test("serves with a config file and env overrides, and exits 0 on SIGTERM", async () => {
    const file = join(dir, "good.yaml");
    writeFileSync(file, `namespace: io.goeasy\nadmin:\n  tokens: [${ADMIN}]\n`);
    const p = comet(["serve", "--config", file, "--listen", "127.0.0.1:0"], { COMET_AUTH_JWT_HS256_SECRET: SECRET });
    const out = await readUntil(p.stderr, /"msg":"listening".*\n/);
    const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1]);
    expect(port).toBeGreaterThan(0);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/comet/Comet/Subscribe`);
    await new Promise((r) => ws.addEventListener("open", r));
    ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token("proc-user") } }));
    const got = new Promise<string>((r) => ws.addEventListener("message", (e) => r(String(e.data))));
    // Publish until the session exists (AUTH is verified asynchronously).
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/comet/Comet/DumpSession`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      if (((await res.json()) as { world: unknown[] }).world.length > 0) break;
      await Bun.sleep(20);
    }
    await fetch(`http://127.0.0.1:${port}/comet/Comet/Publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}` },
      body: JSON.stringify({ uid: "proc-user", evt: "from a process" }),
    });
    expect(await got).toBe('{"t":"PUSH","push":{"evt":"from a process"}}');
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  test("a SIGHUP from the first moment the process can catch one does not end it: it starts, answers /readyz, and reloads", async () => {
    const env = { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN };
    const p = comet(["serve", "--listen", "127.0.0.1:0"], env);
    // Before SIGHUP is caught the runtime itself is starting, and no program can catch a signal.
    // It must be caught before the program has loaded: on Bun, serve() catches SIGTERM once it
    // runs (Deno's Node layer catches SIGHUP, SIGINT and SIGTERM together, at the first process.on).
    await catches(p.pid, 1);
    if (TEST_RUNTIME !== "deno") expect(caught(p.pid, 15)).toBe(false);
    p.kill("SIGHUP");
    const out = await readUntil(p.stderr, /"msg":"listening".*\n/);
    const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1]);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    // Held while loading, acted on once started: a reload, as at any other time.
    await readUntil(p.stderr, /"msg":"config reloaded"/);
    expect(p.exitCode).toBeNull();
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });

  test("--dev binds to loopback, makes its own secrets and prints them with a token command", async () => {
    const p = comet(["serve", "--dev", "--listen", "127.0.0.1:0"]);
    const banner = await readUntil(p.stderr, /={20,}\n\s*\n/);
    expect(banner).toContain("COMET DEV MODE");
    expect(banner).toContain("loopback only");
    const admin = /COMET_ADMIN_TOKEN=(\S+)/.exec(banner)?.[1] as string;
    const secret = /COMET_AUTH_JWT_HS256_SECRET=(\S+)/.exec(banner)?.[1] as string;
    const url = /COMET_URL=(\S+)/.exec(banner)?.[1] as string;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    // Commands that paste as they are: on the runtime that runs the server.
    expect(banner).toMatch(
      TEST_RUNTIME === "deno"
        ? / deno run -A bin\/comet\.ts token --uid alice /
        : / bun bin\/comet\.ts token --uid alice /,
    );
    const dump = await fetch(`${url}/comet/Comet/DumpSession`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}` },
    });
    expect(dump.status).toBe(200);
    const minted = await run(["token", "--uid", "alice"], { COMET_AUTH_JWT_HS256_SECRET: secret });
    expect(minted.code).toBe(0);
    const ws = new WebSocket(`${url.replace("http", "ws")}/comet/subscribe`);
    await new Promise((r) => ws.addEventListener("open", r));
    ws.send(JSON.stringify({ t: "AUTH", auth: { token: minted.stdout.trim() } }));
    const closed = new Promise((r) => ws.addEventListener("close", r));
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`${url}/comet/Comet/DumpSession`, {
        method: "POST",
        headers: { authorization: `Bearer ${admin}` },
      });
      if (((await res.json()) as { world: Array<{ uid: string }> }).world[0]?.uid === "alice") break;
      await Bun.sleep(20);
    }
    ws.close();
    await closed;
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });

  test("SIGTERM drains sessions with 1001 and exits 0; a second signal exits at once", async () => {
    const env = { COMET_AUTH_JWT_HS256_SECRET: SECRET, COMET_ADMIN_TOKENS: ADMIN, COMET_SHUTDOWN_DRAIN: "3s" };
    const p = comet(["serve", "--listen", "127.0.0.1:0"], env);
    const out = await readUntil(p.stderr, /"msg":"listening".*\n/);
    const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(out)?.[1]);
    const ws = new WebSocket(`ws://127.0.0.1:${port}/comet/Comet/Subscribe`);
    await new Promise((r) => ws.addEventListener("open", r));
    ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token("drained") } }));
    const closed = new Promise<number>((r) => ws.addEventListener("close", (e) => r(e.code)));
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/comet/Comet/DumpSession`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      if (((await res.json()) as { world: unknown[] }).world.length > 0) break;
      await Bun.sleep(20);
    }
    p.kill("SIGTERM");
    await readUntil(p.stderr, /"msg":"draining"/);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(503);
    expect(await closed).toBe(1001);
    expect(await p.exited).toBe(0);

    // With a session holding the drain open for 3 s, a second signal does not wait for it.
    const q = comet(["serve", "--listen", "127.0.0.1:0"], { ...env, COMET_SHUTDOWN_DRAIN: "30s" });
    const out2 = await readUntil(q.stderr, /"msg":"listening".*\n/);
    const port2 = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(out2)?.[1]);
    const held: WebSocket[] = [];
    for (const uid of ["h1", "h2"]) {
      const w = new WebSocket(`ws://127.0.0.1:${port2}/comet/Comet/Subscribe`);
      await new Promise((r) => w.addEventListener("open", r));
      w.send(JSON.stringify({ t: "AUTH", auth: { token: await token(uid) } }));
      held.push(w);
    }
    for (let i = 0; i < 50; i++) {
      const res = await fetch(`http://127.0.0.1:${port2}/comet/Comet/DumpSession`, {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      if (((await res.json()) as { world: unknown[] }).world.length === 2) break;
      await Bun.sleep(20);
    }
    q.kill("SIGTERM");
    await readUntil(q.stderr, /"msg":"draining"/);
    q.kill("SIGTERM");
    expect(await q.exited).toBe(143);
  });

  test("--dev refuses a non-loopback listen address", async () => {
    const r = await run(["serve", "--dev", "--listen", "0.0.0.0:0"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--dev binds to loopback only");
  });

  test("the embedded broker: --dev refuses it off loopback; without --dev it needs the instances' account there", async () => {
    const account = { COMET_MQTT_USERNAME: "comet", COMET_MQTT_PASSWORD: "instance-secret-0123456789" };
    for (const listen of [":0", "0.0.0.0:0"]) {
      const env = { COMET_MQTT_EMBEDDED_LISTEN: listen, ...account };
      const dev = await run(["serve", "--dev", "--listen", "127.0.0.1:0"], env);
      expect([dev.code, dev.stderr.trim()]).toEqual([
        2,
        `comet: serve --dev binds to loopback only, got mqtt.embedded.listen ${listen}`,
      ]);
    }
    const open = await run(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: ADMIN,
      COMET_MQTT_EMBEDDED_LISTEN: ":0",
    });
    expect(open.code).toBe(2);
    expect(open.stderr).toContain(
      'comet: config: mqtt.embedded.listen: ":0" is reachable from other machines, so set mqtt.username and mqtt.password',
    );
    const p = comet(["serve", "--dev", "--listen", "127.0.0.1:0"], { COMET_MQTT_EMBEDDED_LISTEN: "127.0.0.1:0" });
    const banner = await readUntil(p.stderr, /={20,}\n\s*\n/);
    expect(banner).toMatch(/"msg":"mqtt embedded broker listening","listen":"127\.0\.0\.1:\d+"/);
    // Ready once the bridge is in with the account it made up for itself.
    const url = /COMET_URL=(\S+)/.exec(banner)?.[1] as string;
    for (let i = 0; i < 100 && (await fetch(`${url}/readyz`)).status !== 200; i++) await Bun.sleep(20);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    p.kill("SIGINT");
    expect(await p.exited).toBe(0);
  });
});

describe("weak settings stop comet serve, naming the key and how to make a strong one", () => {
  const how = "generate one with `comet token --gen-secret`";

  test("an hs256_secret under 32 bytes, in --dev too", async () => {
    const env = { COMET_AUTH_JWT_HS256_SECRET: "hunter2hunter2", COMET_ADMIN_TOKENS: ADMIN };
    for (const args of [["serve"], ["serve", "--dev"]]) {
      const r = await run([...args, "--listen", "127.0.0.1:0"], env);
      expect(r.code).toBe(2);
      expect(r.stderr.trim()).toBe(
        `comet: config: auth.jwt.hs256_secret: 14 bytes, at least 32 are needed (RFC 7518 §3.2): ${how}`,
      );
      expect(r.stderr).not.toContain("hunter2");
    }
  });

  test("an admin token under 16 characters, or an empty one in the file", async () => {
    const short = await run(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: `${ADMIN},letmein`,
    });
    expect(short.code).toBe(2);
    expect(short.stderr.trim()).toBe(`comet: config: admin.tokens[1]: 7 characters, at least 16 are needed: ${how}`);
    const file = join(dir, "empty-token.yaml");
    writeFileSync(file, `admin:\n  tokens: ["${ADMIN}", ""]\n`);
    const empty = await run(["serve", "--config", file, "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
    });
    expect(empty.code).toBe(2);
    expect(empty.stderr.trim()).toBe(`comet: config: admin.tokens[1]: empty, at least 16 are needed: ${how}`);
  });

  test("an mqtt.cluster_key under 32 bytes", async () => {
    const r = await run(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
      COMET_ADMIN_TOKENS: ADMIN,
      COMET_MQTT_EMBEDDED_LISTEN: "127.0.0.1:0",
      COMET_MQTT_CLUSTER_KEY: "abcde",
    });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe(`comet: config: mqtt.cluster_key: 5 bytes, at least 32 are needed: ${how}`);
    expect(r.stderr).not.toContain("abcde");
  });

  test("`comet token --gen-secret` prints a fresh secret that serve accepts as either", async () => {
    const [a, b] = await Promise.all([run(["token", "--gen-secret"]), run(["token", "--gen-secret"])]);
    expect(a.code).toBe(0);
    const secret = a.stdout.trim();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(b.stdout.trim()).not.toBe(secret);
    const p = comet(["serve", "--listen", "127.0.0.1:0"], {
      COMET_AUTH_JWT_HS256_SECRET: secret,
      COMET_ADMIN_TOKENS: b.stdout.trim(),
    });
    await readUntil(p.stderr, /"msg":"listening".*\n/);
    p.kill("SIGTERM");
    expect(await p.exited).toBe(0);
  });
});

describe("comet token", () => {
  test("mints a token the server accepts, with --rooms", async () => {
    const r = await run(["token", "--uid", "bob", "--ttl", "2h", "--rooms", "lobby,team-42/*"], {
      COMET_AUTH_JWT_HS256_SECRET: SECRET,
    });
    expect(r.code).toBe(0);
    const payload = JSON.parse(Buffer.from(r.stdout.trim().split(".")[1] as string, "base64url").toString());
    expect(payload).toMatchObject({ sub: "bob", iss: "io.goeasy", rooms: ["lobby", "team-42/*"] });
    expect(payload.exp - payload.iat).toBe(7200);
  });

  test("without a secret it names what to set", async () => {
    const r = await run(["token", "--uid", "bob"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("needs auth.jwt.hs256_secret");
  });

  test("a bad --ttl and a missing --uid are usage errors", async () => {
    const ttl = await run(["token", "--uid", "bob", "--ttl", "soon"], { COMET_AUTH_JWT_HS256_SECRET: SECRET });
    expect(ttl.code).toBe(2);
    expect(ttl.stderr).toContain("--ttl");
    const uid = await run(["token"], { COMET_AUTH_JWT_HS256_SECRET: SECRET });
    expect(uid.code).toBe(2);
    expect(uid.stderr).toContain("--uid");
  });
});
