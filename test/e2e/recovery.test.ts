import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { api, Client, startTest, type TestServer, token, waitFor } from "../helpers.ts";
import { CutProxy } from "../support/cut-proxy.ts";
import { kindOf, lastPositions, pushesOf, recoveredOf, subscribe } from "../support/positions.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A small seeded generator, so that a failing run can be run again as it was. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/**
 * The loss scenario of the issue: a subscriber's TCP connection is cut while 1,000 numbered
 * messages go to its uid, its room and the world at random; it reconnects with `recover` after
 * 1 s. tokenFor gives the subscriber's token (an HS256 one, or one verified asynchronously).
 */
async function lossScenario(server: TestServer, tokenFor: (uid: string) => Promise<string>, seed: number) {
  const uid = `loss-${seed}`;
  const rid = `loss-room-${seed}`;
  const proxy = await CutProxy.to(server.port);
  try {
    const first = await subscribe(server, uid, { positions: true, join: { rid } }, proxy.ws, await tokenFor(uid));
    const published = { u: [] as string[], r: [] as string[], w: [] as string[] };
    const send = async (kind: string, evt: string) => {
      if (kind === "u") await api(server, "Publish", { uid, evt });
      else await api(server, "Broadcast", { rid: kind === "r" ? rid : "", evt });
      published[kind as "u" | "r" | "w"].push(evt);
    };
    const rand = random(seed);
    let second: Promise<Client> | undefined;
    for (let i = 0; i < 1000; i++) {
      // One of each first, so that the client holds a position in every stream before the cut.
      const kind = i < 3 ? (["u", "r", "w"][i] as string) : (["u", "r", "w"][Math.floor(rand() * 3)] as string);
      await send(kind, `${kind}-${i}`);
      if (i === 300) {
        await first.until(() => pushesOf(first).length >= 3, 3000, "a push of each stream");
        proxy.cut();
        second = (async () => {
          await first.closed;
          await sleep(1000);
          const c = new Client(proxy.ws);
          await c.opened;
          const recover = lastPositions(pushesOf(first));
          c.send({ t: "AUTH", auth: { token: await tokenFor(uid) }, join: { rid }, recover });
          return c;
        })();
      }
      // Spread over more than the second the client is away.
      if (i % 4 === 0) await sleep(2);
    }
    const c = await (second as Promise<Client>);
    const { recovered } = await recoveredOf(c);
    expect(recovered).toEqual({ u: true, r: true, w: true });
    const total = published.u.length + published.r.length + published.w.length;
    await c.until(() => pushesOf(first).length + pushesOf(c).length >= total, 15000, "every message");
    await sleep(100); // nothing more (no duplicate) may follow
    const all = [...pushesOf(first), ...pushesOf(c)];
    for (const kind of ["u", "r", "w"]) {
      const got = all.filter((p) => kindOf(p.stream) === kind);
      expect(got.map((p) => p.evt)).toEqual(published[kind as "u" | "r" | "w"]);
      const seqs = got.map((p) => p.seq as number);
      expect(seqs).toEqual(seqs.map((_, i) => (seqs[0] as number) + i));
      expect(new Set(got.map((p) => p.epoch)).size).toBe(1);
    }
    first.close();
    c.close();
  } finally {
    await proxy.close();
  }
}

describe("recovery after a cut connection", () => {
  test("1,000 messages to the uid, the room and the world while the TCP connection is cut: each exactly once, in order per stream", async () => {
    const server = await startTest("history: {size: 2000}");
    try {
      await lossScenario(server, (uid) => token(uid), 17);
    } finally {
      await server.stop();
    }
  });

  test("the same when the token is verified asynchronously (a JWKS key)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "comet-recovery-"));
    const { publicKey, privateKey } = await generateKeyPair("ES256", { extractable: true });
    const file = join(dir, "jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: "k", alg: "ES256" }] }));
    const server = await startTest("history: {size: 2000}", {
      COMET_AUTH_JWT_HS256_SECRET: "",
      COMET_AUTH_JWT_JWKS_FILE: file,
    });
    const sign = (uid: string) =>
      new SignJWT({ iss: "io.goeasy", sub: uid })
        .setProtectedHeader({ alg: "ES256", kid: "k" })
        .setIssuedAt()
        .setExpirationTime("1h")
        .sign(privateKey);
    try {
      await lossScenario(server, sign, 42);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("recover", () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers) await s.stop();
  });
  const start = async (yaml = "") => {
    const s = await startTest(yaml);
    servers.push(s);
    return s;
  };

  /** A session that received one message on each stream, then closed; its positions. */
  async function leaveAfterOne(server: TestServer, uid: string, rid: string) {
    const c = await subscribe(server, uid, { positions: true, join: { rid } });
    await api(server, "Publish", { uid, evt: "u0" });
    await api(server, "Broadcast", { rid, evt: "r0" });
    await api(server, "Broadcast", { evt: "w0" });
    await c.waitPushes(3);
    c.close();
    await waitFor(() => !server.hub.sessions.has(uid), `${uid} gone`);
    return lastPositions(pushesOf(c));
  }

  async function reconnect(server: TestServer, uid: string, frame: Record<string, unknown>): Promise<Client> {
    const c = new Client(server.ws);
    await c.opened;
    c.send({ t: "AUTH", auth: { token: await token(uid) }, ...frame });
    return c;
  }

  test("a user who drops and comes back gets what was published to it meanwhile, then what is new", async () => {
    const server = await start();
    const pos = await leaveAfterOne(server, "back", "back-room");
    await api(server, "Publish", { uid: "back", evt: "u1" });
    await api(server, "Publish", { uid: "back", evt: "u2" });
    const c = await reconnect(server, "back", { recover: { u: pos.u } });
    const { recovered, at } = await recoveredOf(c);
    expect(recovered).toEqual({ u: true });
    expect(at).toBe(2); // the replay comes first, then the report
    await api(server, "Publish", { uid: "back", evt: "u3" });
    await c.waitPushes(3);
    expect(pushesOf(c).map((p) => [p.evt, p.seq])).toEqual([
      ["u1", 2],
      ["u2", 3],
      ["u3", 4],
    ]);
    c.close();
  });

  test("history too small (size 8): false for that stream only, nothing of it replayed", async () => {
    const server = await start("history: {size: 8}");
    const pos = await leaveAfterOne(server, "small", "small-room");
    for (let i = 1; i <= 20; i++) await api(server, "Publish", { uid: "small", evt: `u${i}` });
    for (let i = 1; i <= 3; i++) await api(server, "Broadcast", { evt: `w${i}` });
    const c = await reconnect(server, "small", { join: { rid: "small-room" }, recover: pos });
    const { recovered } = await recoveredOf(c);
    expect(recovered).toEqual({ u: false, r: true, w: true });
    await sleep(100);
    expect(pushesOf(c).map((p) => p.evt)).toEqual(["w1", "w2", "w3"]);
    c.close();
    // 21 messages to the user's stream, 8 kept: 13 evicted by history.size, and the kept bytes shown.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toContain('comet_history_evicted_total{reason="size"} 13\n');
    expect(metrics).toContain('comet_history_evicted_total{reason="max_bytes"} 0\n');
    expect(Number(/^comet_history_bytes (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(Number(/^comet_history_messages (\d+)$/m.exec(metrics)?.[1])).toBe(8 + 1 + 4);
  });

  test("JOIN after JOIN to rooms of long names: the streams left behind stay within history.max_bytes; a held room keeps its history", async () => {
    const server = await start("history: {max_bytes: 256KiB}\nlimits: {uplink_rate: 2000}");
    const metric = async (name: string) => {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      return Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1]);
    };
    const member = await subscribe(server, "jf-member", { positions: true, join: { rid: "jf-kept" } });
    await api(server, "Broadcast", { rid: "jf-kept", evt: "kept" });
    await member.waitPushes(1);
    const r = lastPositions(pushesOf(member)).r;
    // 3,000 rooms of 2,000-character names: 12 MB of streams were none of them dropped.
    const c = await subscribe(server, "jf-joiner");
    const long = "j".repeat(2000);
    for (let i = 0; i < 3000; i++) c.send({ t: "JOIN", join: { rid: `${long}-${i}` } });
    await waitFor(() => server.hub.sessions.get("jf-joiner")?.rid === `${long}-2999`, "the last JOIN", 10_000);
    expect(await metric("comet_history_bytes")).toBeLessThanOrEqual(256 * 1024);
    expect(await metric("comet_history_streams")).toBeLessThan(100);
    expect(await metric("comet_history_streams_evicted_total")).toBeGreaterThan(2900);
    expect(c.closeInfo).toBeUndefined();
    // The room with a member kept its stream and its message: a member who comes back recovers.
    member.close();
    await member.closed;
    const back = await reconnect(server, "jf-member", { join: { rid: "jf-kept" }, recover: { r: { ...r, seq: 0 } } });
    expect((await recoveredOf(back)).recovered).toEqual({ r: true });
    expect(pushesOf(back).map((p) => p.evt)).toEqual(["kept"]);
    back.close();
    c.close();
  });

  test("history.ttl passed: false, nothing replayed", async () => {
    const server = await start("history: {ttl: 300ms}");
    const pos = await leaveAfterOne(server, "late", "late-room");
    await api(server, "Publish", { uid: "late", evt: "u1" });
    await api(server, "Broadcast", { evt: "w1" });
    await sleep(700);
    const c = await reconnect(server, "late", { join: { rid: "late-room" }, recover: pos });
    expect((await recoveredOf(c)).recovered).toEqual({ u: false, r: false, w: false });
    await sleep(100);
    expect(pushesOf(c)).toEqual([]);
    c.close();
  });

  test("after a server restart the epochs differ: false", async () => {
    const a = await start();
    const pos = await leaveAfterOne(a, "restart", "restart-room");
    const b = await start();
    const c = await reconnect(b, "restart", { join: { rid: "restart-room" }, recover: pos });
    expect((await recoveredOf(c)).recovered).toEqual({ u: false, r: false, w: false });
    c.close();
  });

  test("JOIN recovers the room it enters", async () => {
    const server = await start();
    const stay = await subscribe(server, "join-stay", { join: { rid: "join-room" } });
    const c = await subscribe(server, "join-go", { positions: true, join: { rid: "join-room" } });
    await api(server, "Broadcast", { rid: "join-room", evt: "r1" });
    await c.waitPushes(1);
    const r = lastPositions(pushesOf(c)).r;
    c.send({ t: "JOIN", join: { rid: "" } });
    await waitFor(() => server.hub.sessions.get("join-go")?.rid === "");
    await api(server, "Broadcast", { rid: "join-room", evt: "r2" });
    await api(server, "Broadcast", { rid: "join-room", evt: "r3" });
    c.send({ t: "JOIN", join: { rid: "join-room" }, recover: { r } });
    const { recovered, at } = await recoveredOf(c);
    expect(recovered).toEqual({ r: true });
    expect(pushesOf(c).map((p) => [p.evt, p.seq])).toEqual([
      ["r1", 1],
      ["r2", 2],
      ["r3", 3],
    ]);
    expect(at).toBe(3);
    stay.close();
    c.close();
  });

  test("a frame without recover gets no report", async () => {
    const server = await start();
    const c = await subscribe(server, "no-report", { positions: true, join: { rid: "x" } });
    c.send({ t: "JOIN", join: { rid: "y" } });
    await waitFor(() => server.hub.sessions.get("no-report")?.rid === "y");
    await api(server, "Publish", { uid: "no-report", evt: "after" });
    await c.waitPushes(1);
    expect(c.frames.filter((f) => f.t === "HB")).toEqual([]);
    c.close();
  });

  describe("a forged recover", () => {
    test("seq ahead, an unknown epoch, another user's epoch, a room it is not in: false, nothing replayed", async () => {
      const server = await start();
      const victim = await leaveAfterOne(server, "victim", "secret-room");
      // The victim's user stream has a message the attacker must never see.
      await api(server, "Publish", { uid: "victim", evt: "private" });
      const u = victim.u as { epoch: string; seq: number };
      const cases: Array<[Record<string, unknown>, Record<string, boolean>]> = [
        [{ recover: { u: { epoch: u.epoch, seq: 0 } } }, { u: false }], // the victim's epoch, not its own
        [{ recover: { u: { epoch: "nope", seq: 0 } } }, { u: false }],
        [{ recover: { w: { epoch: (victim.w as { epoch: string }).epoch, seq: 99 } } }, { w: false }],
        [
          { recover: { w: { epoch: (victim.w as { epoch: string }).epoch, seq: "18446744073709551615" } } },
          { w: false },
        ],
        // Past 2^64 too, as a string or a number: ahead, not a wrong type.
        [
          { recover: { w: { epoch: (victim.w as { epoch: string }).epoch, seq: "99999999999999999999999" } } },
          { w: false },
        ],
        [{ recover: { w: { epoch: (victim.w as { epoch: string }).epoch, seq: 1e23 } } }, { w: false }],
        [{ recover: { r: victim.r } }, { r: false }], // in no room: nothing to recover
        [{ join: { rid: "other-room" }, recover: { r: victim.r } }, { r: false }],
      ];
      for (const [frame, want] of cases) {
        const c = await reconnect(server, "attacker", frame);
        expect((await recoveredOf(c)).recovered).toEqual(want);
        await sleep(50);
        expect(pushesOf(c)).toEqual([]);
        c.close();
        await c.closed;
      }
    });

    test("a seq of 23 digits on its own stream's epoch: ahead (false), the session goes on", async () => {
      const server = await start();
      const pos = await leaveAfterOne(server, "ahead", "ahead-room");
      const u = pos.u as { epoch: string; seq: number };
      const c = await reconnect(server, "ahead", {
        recover: { u: { epoch: u.epoch, seq: "99999999999999999999999" } },
      });
      expect((await recoveredOf(c)).recovered).toEqual({ u: false });
      await api(server, "Publish", { uid: "ahead", evt: "still here" });
      await c.waitPushes(1);
      expect(pushesOf(c).map((p) => p.evt)).toEqual(["still here"]);
      expect(c.closeInfo).toBeUndefined();
      // A leading zero is no digit more: 2 is 2.
      const d = await reconnect(server, "ahead", { recover: { u: { epoch: u.epoch, seq: `${"0".repeat(30)}2` } } });
      expect((await recoveredOf(d)).recovered).toEqual({ u: true });
      c.close();
      d.close();
    });

    test("the victim itself still recovers", async () => {
      const server = await start();
      const pos = await leaveAfterOne(server, "owner", "own-room");
      await api(server, "Publish", { uid: "owner", evt: "mine" });
      const c = await reconnect(server, "owner", { recover: { u: pos.u } });
      expect((await recoveredOf(c)).recovered).toEqual({ u: true });
      expect(pushesOf(c).map((p) => p.evt)).toEqual(["mine"]);
      c.close();
    });

    let typed: TestServer | undefined;
    test.each([
      ["recover not an object", 5],
      ["recover a list", [1]],
      ["a position not an object", { u: "x" }],
      ["epoch not a string", { u: { epoch: 5, seq: 1 } }],
      ["seq a word", { u: { epoch: "e", seq: "x" } }],
      ["seq a signed string", { u: { epoch: "e", seq: "+1" } }],
      ["seq an exponent string", { u: { epoch: "e", seq: "1e5" } }],
      ["seq negative", { w: { epoch: "e", seq: -1 } }],
      ["seq a fraction", { w: { epoch: "e", seq: 1.5 } }],
      ["seq a boolean", { r: { epoch: "e", seq: true } }],
      ["a stream that is not u, r or w", { x: { epoch: "e", seq: 1 } }],
    ])("wrong types (%s) close 4400 on AUTH and on JOIN", async (_name, recover) => {
      typed ??= await start();
      const server = typed;
      const onAuth = await reconnect(server, "typed", { recover });
      expect((await onAuth.waitClose()).code).toBe(4400);
      const live = await subscribe(server, "typed2");
      live.send({ t: "JOIN", join: { rid: "a" }, recover });
      expect((await live.waitClose()).code).toBe(4400);
      expect(server.hub.sessions.has("typed2")).toBe(false);
    });
  });
});
