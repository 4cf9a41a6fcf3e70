import { describe, expect, test } from "bun:test";
import { brokerAddress, bridgeSettings, showUrl } from "../../src/bridge/settings.ts";
import { loadConfig } from "../../src/config/load.ts";

const settings = (yaml: string, env: Record<string, string> = {}) => bridgeSettings(loadConfig({ yaml, env }));
const fails = (yaml: string) => () => settings(yaml);

describe("mqtt config", () => {
  test("the bridge is off until mqtt.url or mqtt.embedded.listen is set", () => {
    expect(settings("")).toBeUndefined();
    expect(settings("mqtt: {qos: 1}")).toBeUndefined();
  });

  test("defaults follow docs/protocol.md", () => {
    const s = settings("mqtt: {url: 'mqtt://127.0.0.1:1883'}")!;
    expect(s.url).toBe("mqtt://127.0.0.1:1883");
    expect(s.eventsTopic).toBe("comet/events");
    expect(s.activityTopic).toBe("comet/user-activity");
    expect([...s.activity]).toEqual(["ONLINE", "OFFLINE", "HEARD", "ENTER_ROOM", "LEAVE_ROOM"]);
    expect(s.qos).toBe(0);
    expect(s.queue).toBe(10000);
    expect(s.embedded).toBeUndefined();
    expect(s.routing).toBe(false);
    expect(s.forwardApi).toBe(false);
  });

  test("mqtt.routing and mqtt.forward_api are read; either without a bridge stops the start, naming the key", () => {
    const s = settings("mqtt: {url: 'mqtt://127.0.0.1:1883', routing: on, forward_api: true}")!;
    expect(s.routing).toBe(true);
    expect(s.forwardApi).toBe(true);
    expect(fails("mqtt: {routing: on}")).toThrow('config: mqtt.routing: expected "off" while the bridge is off');
    expect(fails("mqtt: {forward_api: true}")).toThrow(
      "config: mqtt.forward_api: expected false while the bridge is off",
    );
    expect(() => loadConfig({ yaml: "mqtt: {routing: yes}" })).toThrow("mqtt.routing");
  });

  test("keys come from the environment too", () => {
    const s = settings("", {
      COMET_MQTT_URL: "ws://broker:9001/mqtt",
      COMET_MQTT_ACTIVITY: "ONLINE,OFFLINE",
      COMET_MQTT_QOS: "1",
      COMET_MQTT_PASSWORD: "pw",
    })!;
    expect([s.url, [...s.activity], s.qos, s.password]).toEqual([
      "ws://broker:9001/mqtt",
      ["ONLINE", "OFFLINE"],
      1,
      "pw",
    ]);
  });

  test("embedded.listen alone runs the broker in-process", () => {
    const s = settings("mqtt: {embedded: {listen: '127.0.0.1:1883'}}")!;
    expect(s.url).toBeUndefined();
    // On loopback with no account configured, anonymous clients get in (as backends).
    expect(s.embedded).toEqual({
      host: "127.0.0.1",
      port: 1883,
      publishers: [],
      anonymous: true,
      maxPacketBytes: 1048576 + 1024,
    });
  });

  test.each([
    ["mqtt: {url: 'http://x:1883'}", "config: mqtt.url: expected a URL like"],
    ["mqtt: {url: 'not a url'}", "config: mqtt.url: expected a URL like"],
    ["mqtt: {url: 'mqtt://x', qos: 3}", "config: mqtt.qos: expected 0, 1 or 2, got 3"],
    [
      "mqtt: {url: 'mqtt://x', activity: [ONLINE, ASLEEP]}",
      'config: mqtt.activity: expected names from ONLINE, OFFLINE, HEARD, ENTER_ROOM, LEAVE_ROOM, got "ASLEEP"',
    ],
    [
      "mqtt: {url: 'mqtt://x', events_topic: 'comet/#'}",
      "config: mqtt.events_topic: expected a topic name without the wildcards",
    ],
    ["mqtt: {url: 'mqtt://x', activity_topic: ''}", "config: mqtt.activity_topic: expected a topic name"],
    [
      "mqtt: {url: 'mqtt://x', activity_topic: comet/events}",
      "config: mqtt.activity_topic: must differ from mqtt.events_topic",
    ],
    [
      "mqtt: {url: 'mqtt://x', embedded: {listen: '127.0.0.1:1883'}}",
      "config: mqtt.url: set, and so is mqtt.embedded.listen",
    ],
    ["mqtt: {embedded: {listen: 'nowhere'}}", "config: mqtt.embedded.listen: expected HOST:PORT"],
    [
      "mqtt: {url: 'mqtt://x', tls: {ca_file: /etc/hostname}}",
      "config: mqtt.tls.ca_file: set, but mqtt.url is mqtt:// (no TLS)",
    ],
    [
      "mqtt: {url: 'mqtts://x', tls: {cert_file: /etc/hostname}}",
      "config: mqtt.tls.key_file: empty, but mqtt.tls.cert_file is set: set both or neither",
    ],
    [
      "mqtt: {url: 'mqtts://x', tls: {ca_file: /nonexistent/ca.pem}}",
      "config: mqtt.tls.ca_file: cannot read /nonexistent/ca.pem",
    ],
    ["mqtt: {url: 'mqtt://x', queue: -1}", "config: mqtt.queue: expected a whole number of at least 0"],
    ["mqtt: {uri: 'mqtt://x'}", "config: mqtt.uri: unknown key"],
  ])("%s stops the server with a message that names the key", (yaml, message) => {
    expect(fails(yaml)).toThrow(message);
  });
});

describe("the embedded broker's accounts and limits", () => {
  const accounts = "username: comet, password: instance-secret";

  test("with an instance account, anonymous clients are refused; publishers come from YAML or the environment", () => {
    const s = settings(
      `mqtt: {${accounts}, embedded: {listen: ':1883', max_packet_bytes: 4096, publishers: [{username: billing, password: b-secret}]}}`,
    )!;
    expect(s.embedded).toEqual({
      host: "0.0.0.0",
      port: 1883,
      publishers: [{ username: "billing", password: "b-secret" }],
      anonymous: false,
      maxPacketBytes: 4096,
    });
    const e = settings(`mqtt: {${accounts}, embedded: {listen: '[::1]:1883'}}`, {
      COMET_MQTT_EMBEDDED_PUBLISHERS: "billing:p:w,audit:x",
      COMET_LIMITS_MAX_BODY_BYTES: "2048",
    })!;
    expect(e.embedded?.publishers).toEqual([
      { username: "billing", password: "p:w" },
      { username: "audit", password: "x" },
    ]);
    expect(e.embedded?.maxPacketBytes).toBe(2048 + 1024);
    // Publishers alone, on loopback: anonymous clients are refused all the same.
    expect(
      settings("mqtt: {embedded: {listen: '127.0.0.1:0', publishers: [{username: a, password: b}]}}")?.embedded,
    ).toEqual({
      host: "127.0.0.1",
      port: 0,
      publishers: [{ username: "a", password: "b" }],
      anonymous: false,
      maxPacketBytes: 1048576 + 1024,
    });
  });

  test.each([":1883", "0.0.0.0:1883", "[::]:1883", "192.0.2.7:1883"])(
    "a listener on %s without mqtt.username and mqtt.password stops the start, naming the key",
    (listen) => {
      expect(fails(`mqtt: {embedded: {listen: '${listen}'}}`)).toThrow(
        `config: mqtt.embedded.listen: "${listen}" is reachable from other machines, so set mqtt.username and mqtt.password`,
      );
    },
  );

  test.each([
    [
      "mqtt: {embedded: {publishers: [{username: a, password: b}]}}",
      "config: mqtt.embedded.publishers: set, but mqtt.embedded.listen is not",
    ],
    [
      `mqtt: {${accounts}, embedded: {listen: '127.0.0.1:0', publishers: [{username: comet, password: b}]}}`,
      'config: mqtt.embedded.publishers[0].username: "comet" is taken',
    ],
    [
      `mqtt: {${accounts}, embedded: {listen: '127.0.0.1:0', publishers: [{username: a, password: ''}]}}`,
      "config: mqtt.embedded.publishers[0].password: expected a non-empty string",
    ],
    [
      `mqtt: {${accounts}, embedded: {listen: '127.0.0.1:0', publishers: [{username: a, password: b, qos: 1}]}}`,
      "config: mqtt.embedded.publishers[0].qos: expected only username and password",
    ],
    [
      "mqtt: {username: comet, embedded: {listen: '127.0.0.1:0'}}",
      "config: mqtt.password: empty, but mqtt.username is set",
    ],
    [
      "mqtt: {embedded: {listen: '127.0.0.1:0', max_packet_bytes: 100}}",
      "config: mqtt.embedded.max_packet_bytes: expected 0 (limits.max_body_bytes + 1024) or at least 1024",
    ],
  ])("%s stops the start, naming the key", (yaml, message) => {
    expect(fails(yaml)).toThrow(message);
  });

  test("a malformed publisher from the environment is named by its index, its password never shown", () => {
    const env = { COMET_MQTT_EMBEDDED_PUBLISHERS: "good:pw,no-colon-secret" };
    expect(() => settings(`mqtt: {${accounts}, embedded: {listen: '127.0.0.1:0'}}`, env)).toThrow(
      "config: mqtt.embedded.publishers[1].username (from COMET_MQTT_EMBEDDED_PUBLISHERS): expected a non-empty string",
    );
    try {
      settings(`mqtt: {${accounts}, embedded: {listen: '127.0.0.1:0'}}`, env);
    } catch (err) {
      expect((err as Error).message).not.toContain("secret");
    }
  });
});

describe("broker URLs", () => {
  test("are read into mqtt.js options without url.parse", () => {
    expect(brokerAddress("mqtt://127.0.0.1:1883")).toEqual({
      protocol: "mqtt",
      hostname: "127.0.0.1",
      host: "127.0.0.1",
      port: 1883,
    });
    expect(brokerAddress("mqtts://u%40x:p%3Aw@broker.example")).toEqual({
      protocol: "mqtts",
      hostname: "broker.example",
      host: "broker.example",
      username: "u@x",
      password: "p:w",
    });
    expect(brokerAddress("ws://[::1]:9001/mqtt?x=1")).toEqual({
      protocol: "ws",
      hostname: "::1",
      host: "::1",
      port: 9001,
      path: "/mqtt?x=1",
    });
    expect(brokerAddress("wss://broker.example").path).toBe("/");
  });

  test("show without their password", () => {
    expect(showUrl("mqtt://user:secret@host:1883")).toBe("mqtt://user:***@host:1883");
    expect(showUrl("mqtt://host:1883")).toBe("mqtt://host:1883");
  });
});
