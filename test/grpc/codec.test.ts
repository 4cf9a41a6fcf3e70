import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";
import { PROTOBUF, uplinkReader } from "../../src/grpc/codec.ts";
import { DownlinkType, UplinkType } from "../../src/grpc/proto.ts";
import { Downlink, JSON_TEXT } from "../../src/protocol/downlink.ts";
import { encodePush, HB_FRAME, MsgType } from "../../src/protocol/frames.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const decodeDown = (b: Buffer) => DownlinkType.toObject(DownlinkType.decode(b), { enums: String });
const up = (o: object) => Buffer.from(UplinkType.encode(UplinkType.fromObject(o)).finish());

describe("downlink", () => {
  test.each([
    ["plain", "hello"],
    ["JSON with escapes", '{"a":"\\"quoted\\"\\n","b":[1,2]}'],
    ["non-ASCII", "é 中文 😀"],
    ["empty", ""],
  ])("a PUSH of the hub becomes Downlink{PUSH} with evt byte for byte (%s)", (_name, evt) => {
    expect(decodeDown(Downlink.push(evt).encoded(PROTOBUF))).toEqual({ t: "PUSH", push: { evt } });
  });

  test("the HB probe becomes Downlink{t: HB, hb: {}}", () => {
    expect(decodeDown(Downlink.HB.encoded(PROTOBUF))).toEqual({ t: "HB", hb: {} });
  });

  test("one frame handed to many streams is encoded once", () => {
    const frame = Downlink.push("broadcast");
    expect(frame.encoded(PROTOBUF)).toBe(frame.encoded(PROTOBUF));
    expect(Downlink.push("other").encoded(PROTOBUF)).not.toBe(frame.encoded(PROTOBUF));
  });

  test("the JSON text of the same frame is the WebSocket's frame, also encoded once", () => {
    const frame = Downlink.push("x");
    expect(frame.encoded(JSON_TEXT)).toBe(encodePush("x"));
    expect(Downlink.HB.json).toBe(HB_FRAME);
    expect(decodeDown(frame.encoded(PROTOBUF))).toEqual({ t: "PUSH", push: { evt: "x" } });
  });
});

describe("positions in protobuf", () => {
  const part1 = protobuf.parse(readFileSync(`${ROOT}/test/support/comet-part1.proto`, "utf8"), { keepCase: true }).root;
  const Part1Downlink = part1.lookupType("comet.Downlink");
  const part1Bytes = (o: object) => Buffer.from(Part1Downlink.encode(Part1Downlink.fromObject(o)).finish());

  test("a frame without position is byte for byte what Part 1's .proto encodes", () => {
    expect(Downlink.HB.encoded(PROTOBUF)).toEqual(part1Bytes({ t: 0, hb: {} }));
    expect(Downlink.push("é x").encoded(PROTOBUF)).toEqual(part1Bytes({ t: 3, push: { evt: "é x" } }));
  });

  test("a positioned PUSH carries stream, seq and epoch, and a Part 1 client still reads its evt", () => {
    const bytes = Downlink.pushAt("hi", "r:lobby", 42, "ep1").encoded(PROTOBUF);
    expect(DownlinkType.toObject(DownlinkType.decode(bytes), { enums: String, longs: Number })).toEqual({
      t: "PUSH",
      push: { evt: "hi", stream: "r:lobby", seq: 42, epoch: "ep1" },
    });
    expect(Part1Downlink.toObject(Part1Downlink.decode(bytes), { enums: String })).toEqual({
      t: "PUSH",
      push: { evt: "hi" },
    });
  });

  test("the recovered report is Heartbeat.recovered", () => {
    const bytes = Downlink.recoveredReport({ u: true, w: false }).encoded(PROTOBUF);
    expect(decodeDown(bytes)).toEqual({ t: "HB", hb: { recovered: { u: true, w: false } } });
  });

  test("Uplink.recover reads as the WebSocket's recover, seq from a uint64", () => {
    const read = uplinkReader(256);
    expect(
      read(up({ t: 1, auth: { token: "t" }, recover: { u: { epoch: "e", seq: "7" }, w: { epoch: "f", seq: 0 } } })),
    ).toEqual({
      ok: true,
      frame: { t: 1, token: "t", join: undefined, recover: { u: { epoch: "e", seq: 7 }, w: { epoch: "f", seq: 0 } } },
    });
    expect(read(up({ t: 2, join: { rid: "a" }, recover: { r: { epoch: "e", seq: "18446744073709551615" } } }))).toEqual(
      {
        ok: true,
        frame: { t: 2, rid: "a", recover: { r: { epoch: "e", seq: Number.MAX_SAFE_INTEGER } } },
      },
    );
  });
});

describe("uplink", () => {
  const read = uplinkReader(64);

  test("Uplink messages read as the same frames a WebSocket's JSON gives", () => {
    expect(read(up({ t: 1, auth: { token: "tok" }, join: { rid: "r" } }))).toEqual({
      ok: true,
      frame: { t: MsgType.AUTH, token: "tok", join: "r" },
    });
    // No join field: the room is kept on a re-AUTH. An empty JoinRoom: leave any room.
    expect(read(up({ t: 1, auth: { token: "tok" } }))).toEqual({
      ok: true,
      frame: { t: 1, token: "tok", join: undefined },
    });
    expect(read(up({ t: 2, join: {} }))).toEqual({ ok: true, frame: { t: 2, rid: "" } });
    expect(read(up({ t: 2 }))).toEqual({ ok: true, frame: { t: 2, rid: "" } });
    // proto3: an empty message is HB.
    expect(read(Buffer.alloc(0))).toEqual({ ok: true, frame: { t: MsgType.HB } });
  });

  test("PUSH, an unknown MsgType and bytes that are not protobuf are 4400", () => {
    expect(read(up({ t: 3 }))).toEqual({ ok: false, error: { code: 4400, reason: "PUSH is downlink only" } });
    expect(read(Buffer.from([0x08, 0x09]))).toEqual({ ok: false, error: { code: 4400, reason: "unknown t" } });
    // auth (field 3) announcing 5 bytes where 1 follows
    expect(read(Buffer.from([0x1a, 0x05, 0x0a]))).toEqual({
      ok: false,
      error: { code: 4400, reason: "malformed protobuf" },
    });
  });

  test("the size is checked on the wire bytes, before decoding", () => {
    expect(read(Buffer.alloc(64))).not.toHaveProperty("tooBig");
    expect(read(Buffer.alloc(65, 0xff))).toEqual({ tooBig: 65 });
  });
});
