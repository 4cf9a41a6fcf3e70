import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { api, Client, startTest, type TestServer, token } from "../helpers.ts";
import { pushesOf, subscribe } from "../support/positions.ts";
import { ROOT } from "../support/runtime.ts";
import { StrictReader } from "../support/strict-json.ts";

describe("positions", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTest("heartbeat: {interval: 1s}");
  });
  afterAll(() => server.stop());

  test("a session that asks gets its position in every PUSH of its three streams", async () => {
    const c = await subscribe(server, "pos-a", { positions: true, join: { rid: "pos-room" } });
    await api(server, "Publish", { uid: "pos-a", evt: "u1" });
    await api(server, "Broadcast", { rid: "pos-room", evt: "r1" });
    await api(server, "Broadcast", { evt: "w1" });
    await api(server, "Publish", { uid: "pos-a", evt: "u2" });
    await api(server, "Broadcast", { rid: "pos-room", evt: "r2" });
    await c.waitPushes(5);
    const p = pushesOf(c);
    expect(p.map((x) => [x.evt, x.stream, x.seq])).toEqual([
      ["u1", "u", 1],
      ["r1", "r:pos-room", 1],
      ["w1", "w", expect.any(Number)],
      ["u2", "u", 2],
      ["r2", "r:pos-room", 2],
    ]);
    for (const x of p) expect(typeof x.epoch).toBe("string");
    expect(p[0]?.epoch).toBe(p[3]?.epoch as string);
    expect(p[1]?.epoch).toBe(p[4]?.epoch as string);
    // Each stream has an epoch of its own.
    expect(new Set([p[0]?.epoch, p[1]?.epoch, p[2]?.epoch]).size).toBe(3);
    // The frame's fields, in the contract's order.
    expect(c.raw.find((r) => r.includes('"u1"'))).toBe(
      `{"t":"PUSH","push":{"evt":"u1","stream":"u","seq":1,"epoch":${JSON.stringify(p[0]?.epoch)}}}`,
    );
    c.close();
  });

  test("a world broadcast is numbered once, however many rooms carry it", async () => {
    const a = await subscribe(server, "w-a", { positions: true, join: { rid: "w-1" } });
    const b = await subscribe(server, "w-b", { positions: true, join: { rid: "w-2" } });
    const c = await subscribe(server, "w-c", { positions: true });
    const plain = await subscribe(server, "w-d", { join: { rid: "w-1" } });
    for (let i = 0; i < 5; i++) await api(server, "Broadcast", { evt: `w${i}` });
    for (const x of [a, b, c, plain]) await x.waitPushes(5);
    const positions = (x: Client) => pushesOf(x).map((p) => `${p.stream}/${p.epoch}/${p.seq}/${p.evt}`);
    expect(positions(a)).toEqual(positions(c));
    expect(positions(b)).toEqual(positions(c));
    const seqs = pushesOf(a).map((p) => p.seq as number);
    expect(seqs).toEqual([1, 2, 3, 4, 5].map((i) => (seqs[0] as number) + i - 1));
    expect(pushesOf(plain).map((p) => Object.keys(p))).toEqual(Array(5).fill(["evt"]));
    for (const x of [a, b, c, plain]) x.close();
  });

  test("positions must be true or false", async () => {
    const c = new Client(server.ws);
    await c.opened;
    c.send({ t: "AUTH", auth: { token: await token("bad-pos") }, positions: "yes" });
    expect((await c.waitClose()).code).toBe(4400);
  });

  test("a session that asks for nothing gets the frames of Part 1, byte for byte, read by a strict client of the original .proto", async () => {
    const strict = new StrictReader(`${ROOT}/test/support/comet-part1.proto`);
    // The reader is strict: a frame with a position is refused (so this test can fail).
    expect(() =>
      strict.read("comet.Downlink", '{"t":"PUSH","push":{"evt":"x","stream":"u","seq":1,"epoch":"e"}}'),
    ).toThrow(/unknown field/);
    expect(() => strict.read("comet.Downlink", '{"t":"HB","hb":{"recovered":{"u":true}}}')).toThrow(/unknown field/);

    // Sessions with positions beside them in the same room and in the lobby, so both variants go out.
    const others = [
      await subscribe(server, "strict-pos-room", { positions: true, join: { rid: "strict" } }),
      await subscribe(server, "strict-pos-lobby", { positions: true }),
    ];
    const inRoom = await subscribe(server, "strict-room", { join: { rid: "strict" } });
    const inLobby = await subscribe(server, "strict-lobby");
    const evts = ["plain", '{"a":"\\"q\\"\\n"}', "é 中文 😀", ""];
    for (const evt of evts) {
      await api(server, "Publish", { uid: "strict-room", evt });
      await api(server, "Publish", { uid: "strict-lobby", evt });
      await api(server, "Broadcast", { rid: "strict", evt });
      await api(server, "Broadcast", { evt });
    }
    await inRoom.waitPushes(12);
    await inLobby.waitPushes(8);
    // Heartbeat probes too: stay silent past heartbeat.interval.
    await inRoom.until(() => inRoom.frames.some((f) => f.t === "HB"), 3000, "an HB probe");
    await inLobby.until(() => inLobby.frames.some((f) => f.t === "HB"), 3000, "an HB probe");
    for (const c of [inRoom, inLobby]) {
      for (const raw of c.raw) {
        const msg = strict.read("comet.Downlink", raw).toJSON();
        if (msg.t === "HB") expect(raw).toBe('{"t":"HB","hb":{}}');
        else expect(raw).toBe(`{"t":"PUSH","push":{"evt":${JSON.stringify(msg.push.evt)}}}`);
      }
    }
    expect(inRoom.pushes()).toEqual(evts.flatMap((e) => [e, e, e]));
    expect(inLobby.pushes()).toEqual(evts.flatMap((e) => [e, e]));
    for (const c of [...others, inRoom, inLobby]) c.close();
  });
});
