/**
 * SIGHUP reloads `comet serve`, a real process on the runtime under test, with clients on real
 * sockets: what may change is applied without dropping anyone, what may not is named and left.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CryptoKey, exportJWK, generateKeyPair, SignJWT } from "jose";
import { Client, SECRET, token, waitFor } from "../helpers.ts";
import { Receiver } from "../webhooks/receiver.ts";
import { SOURCE } from "./run.ts";
import { adminStatus, authenticate, hup, logLines, publish, type Serving, serveProcess } from "./serving.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-reload-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const OLD = "old-admin-token-0123456789";
const NEW = "new-admin-token-0123456789";
// In both configs: the traffic that runs through a reload must not depend on when it lands.
const STEADY = "steady-admin-token-0123456789";

const write = (name: string, text: string): string => {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
};

const es256 = () => generateKeyPair("ES256", { extractable: true });
const jwks = async (kid: string, key: CryptoKey) =>
  JSON.stringify({ keys: [{ ...(await exportJWK(key)), kid, alg: "ES256", use: "sig" }] });
const signed = (uid: string, kid: string, key: CryptoKey) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid })
    .setIssuer("io.goeasy")
    .setSubject(uid)
    .setIssuedAt()
    .setExpirationTime("1h")
    .sign(key);

const metric = async (s: Serving, outcome: string) => {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  return Number(new RegExp(`^comet_config_reloads_total\\{outcome="${outcome}"\\} (\\d+)$`, "m").exec(text)?.[1]);
};

/** SIGTERM, then the exit status: 0 is proof that no SIGHUP before it ended the process. */
async function stop(s: Serving): Promise<number> {
  s.proc.kill("SIGTERM");
  return (await s.finish()).code;
}

describe("SIGHUP reloads comet serve", () => {
  test("admin tokens and a JWKS rotated under live traffic: old ones refused at once, nobody dropped", async () => {
    const a = await es256();
    const b = await es256();
    const keys = write("jwks.json", await jwks("a", a.publicKey));
    const cfg = (admin: string) =>
      `admin:\n  tokens: [${admin}, ${STEADY}]\nauth:\n  jwt:\n    jwks_file: ${keys}\nshutdown:\n  drain: 0s\n`;
    const file = write("rotate.yaml", cfg(OLD));
    const s = await serveProcess(["--config", file, "--listen", "127.0.0.1:0"]);
    const live = (await authenticate(s, STEADY, "live", await signed("live", "a", a.privateKey))) as Client;
    expect(live).toBeInstanceOf(Client);
    const stale = (await authenticate(s, STEADY, "stale", await signed("stale", "a", a.privateKey))) as Client;

    // A publisher that does not stop for the reload; its subscriber must miss nothing.
    let sent = 0;
    let publishing = true;
    const traffic = (async () => {
      while (publishing) {
        expect(await publish(s, STEADY, "live", `n${sent}`)).toBe(200);
        sent++;
        await Bun.sleep(5);
      }
    })();
    await live.waitPushes(5);

    writeFileSync(keys, await jwks("b", b.publicKey));
    writeFileSync(file, cfg(NEW));
    const outcome = await hup(s);
    expect(outcome).toMatchObject({ level: "info", changed: ["admin.tokens", "auth.jwt.jwks_file (contents)"] });
    expect(await adminStatus(s, OLD)).toBe(401);
    expect(await adminStatus(s, NEW)).toBe(200);

    const at = sent;
    await live.waitPushes(at + 5);
    publishing = false;
    await traffic;
    await live.waitPushes(sent);
    expect(live.pushes()).toEqual(Array.from({ length: sent }, (_, i) => `n${i}`));
    expect(live.closeInfo).toBeUndefined();

    const after = await authenticate(s, NEW, "after", await signed("after", "b", b.privateKey));
    expect(after).toBeInstanceOf(Client);
    const removed = await authenticate(s, NEW, "removed", await signed("removed", "a", a.privateKey));
    expect(removed).toEqual({ code: 4401, reason: "token key not found" });
    // The live sessions signed by the removed key were not asked again; a re-AUTH is verified
    // with the new keys: one signed by the new key keeps its session, one by the removed key ends it.
    expect(live.closeInfo).toBeUndefined();
    live.send({ t: "AUTH", auth: { token: await signed("live", "b", b.privateKey) } });
    stale.send({ t: "AUTH", auth: { token: await signed("stale", "a", a.privateKey) } });
    expect(await stale.waitClose()).toEqual({ code: 4401, reason: "token key not found" });
    expect(await publish(s, NEW, "live", "after re-AUTH")).toBe(200);
    expect((await live.waitPushes(sent + 1)).at(-1)).toBe("after re-AUTH");
    expect(live.closeInfo).toBeUndefined();
    expect(await metric(s, "ok")).toBe(1);
    expect(await metric(s, "invalid")).toBe(0);
    // Key names, never values.
    expect(s.stderr.text).not.toContain(NEW);
    expect(s.stderr.text).not.toContain(OLD);
    expect(await stop(s)).toBe(0);
  });

  test("an invalid config changes nothing, says why, and is counted", async () => {
    const good = `admin:\n  tokens: [${OLD}]\nauth:\n  jwt:\n    hs256_secret: ${SECRET}\nshutdown:\n  drain: 0s\n`;
    const file = write("invalid.yaml", good);
    const s = await serveProcess(["--config", file, "--listen", "127.0.0.1:0"]);
    const live = (await authenticate(s, OLD, "steady", await token("steady"))) as Client;
    const cases: Array<[string, string]> = [
      [
        `admin:\n  tokens: [${NEW}]\nauth:\n  jwt:\n    hs256_secret: short-but-new\n`,
        "auth.jwt.hs256_secret: 13 bytes",
      ],
      [
        `admin:\n  tokens: [${NEW}, letmein]\nauth:\n  jwt:\n    hs256_secret: ${SECRET}\n`,
        "admin.tokens[1]: 7 characters",
      ],
      [`admin:\n  tokens: [${NEW}\n`, `${file}:`],
      [`admin:\n  tokens: [${NEW}]\nheartbeat:\n  intervall: 5s\n`, "heartbeat.intervall: unknown key"],
      [
        `admin:\n  tokens: [${NEW}]\nauth:\n  jwt:\n    jwks_file: ${join(dir, "absent.json")}\n`,
        "auth.jwt.jwks_file: cannot read",
      ],
      [`admin:\n  tokens: [${NEW}]\n`, "no JWT key configured"],
    ];
    for (const [text, why] of cases) {
      writeFileSync(file, text);
      const outcome = await hup(s);
      expect(outcome.level).toBe("error");
      expect(outcome.msg).toBe("config reload refused: the running config stays");
      expect(String(outcome.reason)).toContain(why);
      expect(await adminStatus(s, OLD)).toBe(200);
      expect(await adminStatus(s, NEW)).toBe(401);
    }
    expect(s.stderr.text).not.toContain("short-but-new");
    expect(s.stderr.text).not.toContain("letmein");
    // The running keys still verify; the session from before is still there.
    expect(await authenticate(s, OLD, "later", await token("later"))).toBeInstanceOf(Client);
    expect(live.closeInfo).toBeUndefined();
    expect(await metric(s, "invalid")).toBe(cases.length);
    expect(await metric(s, "ok")).toBe(0);

    writeFileSync(file, good.replace(OLD, NEW));
    expect((await hup(s)).changed).toEqual(["admin.tokens"]);
    expect(await adminStatus(s, NEW)).toBe(200);
    expect(await stop(s)).toBe(0);
  });

  test("a key that needs a restart is named in a warning and not applied; log.level is", async () => {
    const free = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const elsewhere = free.port;
    free.stop(true);
    const cfg = (listen: string, more: string) =>
      `listen: ${listen}\nadmin:\n  tokens: [${OLD}]\nauth:\n  jwt:\n    hs256_secret: ${SECRET}\nshutdown:\n  drain: 0s\n${more}`;
    const file = write("restart.yaml", cfg("127.0.0.1:0", ""));
    const s = await serveProcess(["--config", file]);
    const quiet = (await authenticate(s, OLD, "quiet", await token("quiet"))) as Client;

    writeFileSync(file, cfg(`127.0.0.1:${elsewhere}`, "heartbeat:\n  interval: 200ms\nlog:\n  level: debug\n"));
    const outcome = await hup(s);
    expect(outcome).toMatchObject({ changed: ["log.level"], not_applied: ["listen", "heartbeat.interval"] });
    const warned = logLines(s).filter((l) => l.level === "warn");
    expect(warned.map((l) => l.key)).toEqual(["listen", "heartbeat.interval"]);
    expect(warned[0]?.msg).toBe("config key changed, not applied: it needs a restart");

    // Still where it was, not where the file now says.
    expect(await adminStatus(s, OLD)).toBe(200);
    expect(
      await fetch(`http://127.0.0.1:${elsewhere}/healthz`).then(
        () => "open",
        () => "refused",
      ),
    ).toBe("refused");
    // log.level: debug lines from now on (a session start is one).
    expect(await authenticate(s, OLD, "debugged", await token("debugged"))).toBeInstanceOf(Client);
    expect(logLines(s).some((l) => l.level === "debug" && l.msg === "session start" && l.uid === "debugged")).toBe(
      true,
    );
    // heartbeat.interval kept its 60 s: a session silent for well over 200 ms (and a sweep) is not probed.
    await Bun.sleep(1500);
    expect(quiet.frames.filter((f) => f.t === "HB")).toEqual([]);
    expect(quiet.closeInfo).toBeUndefined();
    expect(await stop(s)).toBe(0);
  });

  test("--dev: a reload keeps the secrets made at start, so the banner's token and secret still work", async () => {
    const s = await serveProcess(["--dev", "--listen", "127.0.0.1:0"], { COMET_SHUTDOWN_DRAIN: "0s" });
    await s.stderr.until("COMET_AUTH_JWT_HS256_SECRET=");
    const admin = /COMET_ADMIN_TOKEN=(\S+)/.exec(s.stderr.text)?.[1] as string;
    const secret = /COMET_AUTH_JWT_HS256_SECRET=(\S+)/.exec(s.stderr.text)?.[1] as string;
    const before = (await authenticate(s, admin, "dev-before", await token("dev-before", { secret }))) as Client;
    expect(await hup(s)).toMatchObject({ msg: "config reloaded", changed: [] });
    expect(await hup(s)).toMatchObject({ msg: "config reloaded", changed: [] });
    expect(await adminStatus(s, admin)).toBe(200);
    expect(await authenticate(s, admin, "dev-after", await token("dev-after", { secret }))).toBeInstanceOf(Client);
    expect(before.closeInfo).toBeUndefined();
    s.proc.kill("SIGINT");
    expect((await s.finish()).code).toBe(0);
  });

  test("a terminal that hangs up does not end it: the log lines are lost, the service is not", async () => {
    const file = write("tty.yaml", `admin:\n  tokens: [${OLD}]\nauth:\n  jwt:\n    hs256_secret: ${SECRET}\n`);
    let text = "";
    const decoder = new TextDecoder();
    const proc = Bun.spawn([...SOURCE.argv(), "serve", "--config", file, "--listen", "127.0.0.1:0"], {
      cwd: SOURCE.cwd(),
      env: { PATH: SOURCE.path, HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", COMET_SHUTDOWN_DRAIN: "0s" },
      terminal: {
        cols: 400,
        rows: 24,
        data: (_t, d) => {
          text += decoder.decode(d, { stream: true });
        },
      },
    });
    const deadline = Date.now() + 10_000;
    while (!/"listen":"127\.0\.0\.1:\d+"/.test(text) && Date.now() < deadline) await Bun.sleep(10);
    const port = Number(/"listen":"127\.0\.0\.1:(\d+)"/.exec(text)?.[1]);
    // The hang-up: SIGHUP to the session, and every later write to the terminal fails.
    proc.terminal?.close();
    await Bun.sleep(300);
    proc.kill("SIGHUP");
    await Bun.sleep(300);
    expect({ exit: proc.exitCode, signal: proc.signalCode }).toEqual({ exit: null, signal: null });
    const res = await fetch(`http://127.0.0.1:${port}/comet/Comet/DumpSession`, {
      method: "POST",
      headers: { authorization: `Bearer ${OLD}` },
    });
    expect(res.status).toBe(200);
    proc.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
  });

  test("webhooks: a new list applies to the next events, an unchanged webhook keeps going, a bad one is refused naming the entry", async () => {
    const first = new Receiver();
    const second = new Receiver();
    let started: Serving | undefined;
    try {
      const hook = (url: string, events: string) =>
        `  - {url: "${url}", events: [${events}], secret: "reload-hook-secret-0123"}\n`;
      const cfg = (hooks: string) =>
        `admin:\n  tokens: [${OLD}]\nauth:\n  jwt:\n    hs256_secret: ${SECRET}\nshutdown:\n  drain: 0s\nwebhooks:\n${hooks}`;
      const file = write("webhooks.yaml", cfg(hook(first.url, "ONLINE")));
      const s = await serveProcess(["--config", file, "--listen", "127.0.0.1:0"]);
      started = s;
      const login = async (uid: string) => {
        const c = (await authenticate(s, OLD, uid, await token(uid))) as Client;
        expect(c).toBeInstanceOf(Client);
        return c;
      };
      const uids = (r: Receiver) => r.events().map((e) => `${e.type} ${e.uid}`);
      const a = await login("wh-a");
      await waitFor(() => uids(first).includes("ONLINE wh-a"));

      writeFileSync(file, cfg(hook(first.url, "ONLINE") + hook(second.url, "ONLINE, OFFLINE")));
      expect(await hup(s)).toMatchObject({ level: "info", changed: ["webhooks"] });
      a.close();
      const b = await login("wh-b");
      await waitFor(() => uids(second).includes("ONLINE wh-b") && uids(first).includes("ONLINE wh-b"));
      expect(uids(second)).toEqual(["OFFLINE wh-a", "ONLINE wh-b"]);
      expect(uids(first)).toEqual(["ONLINE wh-a", "ONLINE wh-b"]);

      writeFileSync(file, cfg(hook(second.url, "ONLINE").replace("reload-hook-secret-0123", "short")));
      const refused = await hup(s);
      expect(refused.msg).toBe("config reload refused: the running config stays");
      expect(refused.reason).toBe("config: webhooks[0].secret: expected a string of at least 16 characters");
      b.close();
      await waitFor(() => uids(second).includes("OFFLINE wh-b"));
      expect(s.stderr.text).not.toContain("reload-hook-secret-0123");
      expect(await stop(s)).toBe(0);
    } finally {
      // A failed assertion must not leave the process behind.
      if (started && started.proc.exitCode === null && started.proc.signalCode === null) started.proc.kill("SIGKILL");
      first.stop();
      second.stop();
    }
  });
});
