/**
 * The PUBLISH fast path (src/bridge/wire/publish-tap.ts): the splitter alone over any cut of a byte
 * stream, then an instance on a real broker at QoS 0, 1 and 2 (QoS 1 acknowledged by the fast path,
 * QoS 2 left to mqtt.js).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import mqttPacket from "mqtt-packet";
import { PacketSplitter } from "../../src/bridge/wire/publish-tap.ts";
import { connect } from "../helpers.ts";
import { TestBroker } from "./broker.ts";
import { type Comet, metric, Observer, startComet, waitReadyz } from "./util.ts";

type Sent =
  | { kind: "publish"; topic: string; payload: Buffer; qos: 0 | 1 | 2; retain: boolean; id: number }
  | { kind: "other"; bytes: Buffer };

const encode = (p: object): Buffer => mqttPacket.generate(p as mqttPacket.Packet);

const packetArb: fc.Arbitrary<Sent> = fc.oneof(
  fc
    .record({
      topic: fc.string({ unit: "grapheme", maxLength: 40 }),
      // Up to 20 KB: remaining lengths of one, two and three bytes.
      payload: fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ minLength: 16_000, maxLength: 20_000 })),
      qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      retain: fc.boolean(),
      id: fc.integer({ min: 1, max: 65_535 }),
    })
    .map(({ topic, payload, qos, retain, id }) => ({
      kind: "publish" as const,
      topic,
      payload: Buffer.from(payload),
      qos,
      retain,
      id,
    })),
  fc.constantFrom<Sent>(
    { kind: "other", bytes: encode({ cmd: "pingresp" }) },
    { kind: "other", bytes: encode({ cmd: "suback", messageId: 7, granted: [0, 1] }) },
    { kind: "other", bytes: encode({ cmd: "connack", returnCode: 0, sessionPresent: false }) },
  ),
);

function bytesOf(p: Sent): Buffer {
  if (p.kind === "other") return p.bytes;
  return encode({
    cmd: "publish",
    topic: p.topic,
    payload: p.payload,
    qos: p.qos,
    retain: p.retain,
    dup: false,
    ...(p.qos > 0 ? { messageId: p.id } : {}),
  });
}

/** The stream cut at the given points (each a fraction of its length). */
function cut(stream: Buffer, at: number[]): Buffer[] {
  const points = [...new Set(at.map((f) => Math.floor(f * stream.length)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    if (p > from && p < stream.length) {
      chunks.push(stream.subarray(from, p));
      from = p;
    }
  }
  chunks.push(stream.subarray(from));
  return chunks;
}

describe("the splitter", () => {
  test("any cut of any stream: QoS 0/1 PUBLISHes taken in order, QoS 1 acknowledged, the rest passed on byte for byte", () => {
    fc.assert(
      fc.property(
        fc.array(packetArb, { minLength: 1, maxLength: 12 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 30 }),
        (packets, at) => {
          const taken: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
          const acked: number[] = [];
          const passed: Buffer[] = [];
          const splitter = new PacketSplitter(
            (topic, payload, retain) => taken.push({ topic, payload: Buffer.from(payload), retain }),
            (id) => acked.push(id),
          );
          for (const chunk of cut(Buffer.concat(packets.map(bytesOf)), at)) passed.push(...splitter.feed(chunk));
          const fast = packets.filter((p) => p.kind === "publish" && p.qos < 2) as Array<
            Extract<Sent, { kind: "publish" }>
          >;
          expect(taken).toEqual(fast.map((p) => ({ topic: p.topic, payload: p.payload, retain: p.retain })));
          expect(acked).toEqual(fast.filter((p) => p.qos === 1).map((p) => p.id));
          const rest = packets.filter((p) => !(p.kind === "publish" && p.qos < 2));
          expect(Buffer.concat(passed)).toEqual(Buffer.concat(rest.map(bytesOf)));
        },
      ),
      { numRuns: 300 },
    );
  });

  test("a remaining length of five bytes is not MQTT: from there everything goes to mqtt.js, which refuses it", () => {
    const taken: string[] = [];
    const splitter = new PacketSplitter(
      (topic) => taken.push(topic),
      () => {},
    );
    const good = bytesOf({ kind: "publish", topic: "t", payload: Buffer.from("x"), qos: 0, retain: false, id: 0 });
    const bad = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00]);
    const passed = Buffer.concat([...splitter.feed(Buffer.concat([good, bad])), ...splitter.feed(good)]);
    expect(taken).toEqual(["t"]);
    expect(passed).toEqual(Buffer.concat([bad, good]));
  });

  test("a PUBLISH whose topic runs past its packet is left to mqtt.js", () => {
    const taken: string[] = [];
    const splitter = new PacketSplitter(
      (topic) => taken.push(topic),
      () => {},
    );
    // Remaining length 3: a topic length of 200 that cannot fit.
    const bad = Buffer.from([0x30, 0x03, 0x00, 0xc8, 0x41]);
    expect(Buffer.concat(splitter.feed(bad))).toEqual(bad);
    expect(taken).toEqual([]);
  });
});

describe("on a real broker", () => {
  let broker: TestBroker;
  let server: Comet;
  let pub: Observer;
  const lines: string[] = [];

  beforeAll(async () => {
    broker = await TestBroker.start();
    // QoS 1 subscriptions: the broker sends each event at the QoS it was published with, up to 1.
    server = await startComet(`mqtt: {url: "${broker.url}", qos: 1}`, lines);
    await waitReadyz(server, 200);
    pub = await Observer.connect(broker.url, []);
  });

  afterAll(async () => {
    await pub?.close();
    await server?.stop();
    await broker?.stop();
  });

  test("the instance says the fast path is on", () => {
    const connected = lines.map((l) => JSON.parse(l)).find((l) => l.msg === "mqtt connected");
    expect(connected?.publish_fast_path).toBe(true);
  });

  test("QoS 0 and QoS 1 events all arrive, each QoS in order: QoS 1 beyond the broker's in-flight window, so each was acknowledged", async () => {
    const kim = await connect(server, "kim");
    const before = await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" });
    const sent: string[] = [];
    // Mosquitto holds at most 20 unacknowledged QoS 1 messages per client: 300 need every PUBACK.
    for (let i = 0; i < 300; i++) {
      const evt = `q${i % 2 === 0 ? 1 : 0} e${i} ${"é".repeat(i % 7)}`;
      sent.push(evt);
      await pub.client.publishAsync("comet/events", JSON.stringify({ uid: "kim", evt }), { qos: i % 2 === 0 ? 1 : 0 });
    }
    await kim.waitPushes(300, 10_000);
    // MQTT keeps order per QoS only (§4.6): the broker may let QoS 0 pass QoS 1 waiting for a PUBACK.
    const ofQos = (list: string[], q: string) => list.filter((e) => e.startsWith(q));
    for (const q of ["q0", "q1"]) expect(ofQos(kim.pushes(), q)).toEqual(ofQos(sent, q));
    expect(kim.pushes()).toHaveLength(300);
    expect(await metric(server, "comet_bridge_events_in_total", { outcome: "delivered" })).toBe(before + 300);
    kim.close();
  });

  test("a QoS 2 event (left to mqtt.js) arrives too, and so does one of 60 KB", async () => {
    const ann = await connect(server, "ann");
    const big = "b".repeat(60_000);
    await pub.client.publishAsync("comet/events", JSON.stringify({ uid: "ann", evt: "two" }), { qos: 2 });
    await pub.client.publishAsync("comet/events", JSON.stringify({ uid: "ann", evt: big }), { qos: 0 });
    await ann.waitPushes(2, 10_000);
    expect(ann.pushes()).toEqual(["two", big]);
    ann.close();
  });
});
