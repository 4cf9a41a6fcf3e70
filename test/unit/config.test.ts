import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { parseDuration } from "../../src/config/duration.ts";

const bad = (yaml: string, env: Record<string, string> = {}) => {
  try {
    loadConfig({ yaml, env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("config loader", () => {
  test("every key has a default", () => {
    const c = loadConfig();
    expect(c.namespace).toBe("io.goeasy");
    expect(c.listen).toEqual({ host: "0.0.0.0", port: 8080 });
    expect(c.auth.timeout).toBe(10_000);
    expect(c.auth.jwt.clock_tolerance).toBe(5_000);
    expect(c.auth.rooms).toBe("open");
    expect(c.heartbeat.interval).toBe(60_000);
    expect(c.limits.max_uplink_bytes).toBe(4096);
    expect(c.limits.uplink_rate).toBe(20);
    expect(c.admin.tokens).toEqual([]);
  });

  test("the config is frozen", () => {
    const c = loadConfig();
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.limits)).toBe(true);
  });

  test("YAML, then env, then flags: later wins", () => {
    const c = loadConfig({
      yaml: "namespace: a\nlisten: 1.2.3.4:90\nheartbeat: {interval: 30s}\n",
      env: { COMET_NAMESPACE: "b", COMET_HEARTBEAT_INTERVAL: "250ms", COMET_ADMIN_TOKENS: "x, y" },
      overrides: { listen: "127.0.0.1:0" },
    });
    expect(c.namespace).toBe("b");
    expect(c.heartbeat.interval).toBe(250);
    expect(c.listen).toEqual({ host: "127.0.0.1", port: 0 });
    expect(c.admin.tokens).toEqual(["x", "y"]);
  });

  test("env names follow COMET_ + path with _ for dots", () => {
    const c = loadConfig({ env: { COMET_AUTH_JWT_HS256_SECRET: "s", COMET_LIMITS_MAX_CONNECTIONS: "7" } });
    expect(c.auth.jwt.hs256_secret).toBe("s");
    expect(c.limits.max_connections).toBe(7);
  });

  test("websocket.compression: on and off unquoted are the words, not YAML 1.1 booleans", () => {
    expect(loadConfig({ yaml: "websocket: {compression: on}" }).websocket.compression).toBe("on");
    expect(loadConfig({ yaml: "websocket:\n  compression: off\n" }).websocket).toEqual({
      compression: "off",
      compression_min_bytes: 256,
    });
    expect(loadConfig({ yaml: "", env: { COMET_WEBSOCKET_COMPRESSION: "on" } }).websocket.compression).toBe("on");
  });

  test("IPv6 listen", () => {
    expect(loadConfig({ yaml: 'listen: "[::1]:8081"' }).listen).toEqual({ host: "::1", port: 8081 });
  });

  test.each([
    ["nope: 1", "config: nope: unknown key"],
    ["auth: {jwt: {secret: x}}", "config: auth.jwt.secret: unknown key"],
    [
      "heartbeat: {interval: 5}",
      'config: heartbeat.interval: expected a duration like "30s" (units: ms, s, m, h), got 5',
    ],
    ['heartbeat: {interval: "5"}', 'config: heartbeat.interval: expected a duration like "30s"'],
    ["heartbeat: {interval: 0s}", "config: heartbeat.interval: expected a duration of at least 1ms"],
    ["limits: {max_connections: -1}", "config: limits.max_connections: expected a whole number of at least 0"],
    ["limits: {max_connections: 1.5}", "config: limits.max_connections: expected a whole number"],
    ['limits: {max_connections: "10"}', "config: limits.max_connections: expected a whole number"],
    ["admin: {tokens: token}", "config: admin.tokens: expected a list of strings"],
    ["admin: {tokens: [1, 2]}", "config: admin.tokens: expected a list of strings"],
    ["auth: {rooms: closed}", "config: auth.rooms: expected one of open | claim"],
    ["websocket: {compression: true}", "config: websocket.compression: expected one of off | on, got true"],
    ["websocket: {compression: gzip}", "config: websocket.compression: expected one of off | on"],
    ["websocket: {compression_min_bytes: -1}", "config: websocket.compression_min_bytes: expected a whole number"],
    ["listen: 8080", "config: listen: expected HOST:PORT"],
    ["history: {max_bytes: 64MB}", 'config: history.max_bytes: expected a size like "64MiB" (units: B, KiB, MiB, GiB)'],
    ["history: {max_bytes: -1}", 'config: history.max_bytes: expected a size like "64MiB"'],
    ["history: {max_bytes: 1.5}", 'config: history.max_bytes: expected a size like "64MiB"'],
    ["history: {max_bytes: [1]}", 'config: history.max_bytes: expected a size like "64MiB"'],
    ["history: {size: -1}", "config: history.size: expected a whole number of at least 0"],
    ["history: {ttl: 0s}", "config: history.ttl: expected a duration of at least 1ms"],
    ["listen: 'x:99999'", "config: listen: expected HOST:PORT"],
    ["namespace: 5", "config: namespace: expected a string, got 5"],
    ["auth: 5", "config: auth: expected a mapping of keys"],
    ["- a\n- b", "config: expected a mapping of keys at the top level"],
    ["namespace: a\nnamespace: b", "config: (inline):2: namespace: key given twice"],
    ["namespace: [unclosed", "config: (inline):"],
  ])("bad config %p names the key", (yaml, message) => {
    expect(bad(yaml)).toContain(message);
  });

  test.each([
    ["namespace: a\nlisten: 1.2.3.4:90\nnamespace: b\n", "config: (inline):3: namespace: key given twice"],
    [
      "limits:\n  max_connections: 1\n  uplink_rate: 5\n  max_connections: 2\n",
      "config: (inline):4: limits.max_connections: key given twice",
    ],
    [
      "auth:\n  jwt:\n    audience: a\n\n    # again, further down\n    audience: b\n",
      "config: (inline):6: auth.jwt.audience: key given twice",
    ],
    [
      "namespace: a\nlimits: {max_connections: 1, max_connections: 2}\n",
      "config: (inline):2: limits.max_connections: key given twice",
    ],
    ['mqtt:\n  tls: {cert_file: a}\n  "tls": {cert_file: b}\n', "config: (inline):3: mqtt.tls: key given twice"],
  ])("a key given twice %p is named by its path and line", (yaml, message) => {
    expect(bad(yaml)).toBe(message);
  });

  test("the same name in different mappings is not a duplicate", () => {
    const c = loadConfig({ yaml: "tls: {cert_file: a}\nmqtt:\n  tls: {cert_file: a}\n" });
    expect(c.tls.cert_file).toBe("a");
    expect(c.mqtt.tls.cert_file).toBe("a");
  });

  test("a YAML syntax error keeps yaml's words and gains the line", () => {
    expect(bad("namespace: a\n\tlisten: x\n")).toBe("config: (inline):2: Tabs are not allowed as indentation");
  });

  test("a duplicate in a file names the file", () => {
    const dir = mkdtempSync(join(tmpdir(), "comet-config-"));
    try {
      const file = join(dir, "comet.yaml");
      writeFileSync(file, "heartbeat:\n  interval: 30s\nlimits:\n  max_connections: 1\n  max_connections: 2\n");
      expect(() => loadConfig({ file })).toThrow(`config: ${file}:5: limits.max_connections: key given twice`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("every ConfigError carries a stable code and name", () => {
    for (const load of [
      () => loadConfig({ yaml: "nope: 1" }),
      () => loadConfig({ yaml: "namespace: a\nnamespace: b" }),
      () => loadConfig({ env: { COMET_HEARTBEAT_INTERVAL: "soon" } }),
      () => loadConfig({ file: "/nonexistent/comet.yaml" }),
    ]) {
      try {
        load();
        throw new Error("expected a ConfigError");
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as ConfigError).code).toBe("config_invalid");
        expect((err as ConfigError).name).toBe("ConfigError");
      }
    }
  });

  test("a bad env value names the key and the variable", () => {
    expect(bad("", { COMET_HEARTBEAT_INTERVAL: "soon" })).toContain(
      "config: heartbeat.interval (from COMET_HEARTBEAT_INTERVAL): expected a duration",
    );
    expect(bad("", { COMET_LIMITS_UPLINK_RATE: "fast" })).toContain(
      "limits.uplink_rate (from COMET_LIMITS_UPLINK_RATE)",
    );
  });

  test("a missing file is named", () => {
    expect(() => loadConfig({ file: "/nonexistent/comet.yaml" })).toThrow(
      "config: cannot read /nonexistent/comet.yaml",
    );
  });

  test("config.example.yaml loads and matches the defaults", () => {
    const text = readFileSync(new URL("../../config.example.yaml", import.meta.url), "utf8");
    expect(loadConfig({ yaml: text })).toEqual(loadConfig());
  });

  test("sizes: a byte count, or a count with a unit; from YAML and from the environment", () => {
    expect(loadConfig().history).toEqual({
      size: 32,
      ttl: 120_000,
      max_bytes: 64 * 1024 * 1024,
      store: "memory",
      redis: { urls: [], prefix: "comet", fill_wait: 100 },
    });
    expect(loadConfig({ yaml: "history: {max_bytes: 512KiB}" }).history.max_bytes).toBe(512 * 1024);
    expect(loadConfig({ yaml: "history: {max_bytes: 1GiB}" }).history.max_bytes).toBe(1024 ** 3);
    expect(loadConfig({ yaml: "history: {max_bytes: 100 B}" }).history.max_bytes).toBe(100);
    expect(loadConfig({ yaml: "history: {max_bytes: 65536}" }).history.max_bytes).toBe(65536);
    expect(loadConfig({ yaml: 'history: {max_bytes: "0"}' }).history.max_bytes).toBe(0);
    expect(loadConfig({ env: { COMET_HISTORY_MAX_BYTES: "2MiB" } }).history.max_bytes).toBe(2 * 1024 * 1024);
    expect(loadConfig({ env: { COMET_HISTORY_MAX_BYTES: "4096" } }).history.max_bytes).toBe(4096);
    expect(bad("", { COMET_HISTORY_MAX_BYTES: "lots" })).toContain(
      "config: history.max_bytes (from COMET_HISTORY_MAX_BYTES): expected a size",
    );
  });

  test("durations", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("1.5s")).toBe(1500);
    expect(parseDuration("2m")).toBe(120_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("10")).toBeUndefined();
    expect(parseDuration("s")).toBeUndefined();
    expect(parseDuration(10)).toBeUndefined();
  });

  test("presence and webhooks: defaults, a full entry, and JSON from the environment", () => {
    const d = loadConfig();
    expect(d.presence.offline_grace).toBe(0);
    expect(d.webhooks).toEqual([]);
    expect(d.mqtt.presence_topic).toBe("comet/presence");
    const c = loadConfig({
      yaml: `presence: {offline_grace: 5s}
webhooks:
  - {url: "https://b.example/hook", events: [presence.OFFLINE, ONLINE, ONLINE], secret: "0123456789abcdef", timeout: 2s}
  - {url: "http://127.0.0.1:9000", events: [HEARD], secret: "0123456789abcdef"}
`,
    });
    expect(c.presence.offline_grace).toBe(5000);
    expect(c.webhooks).toEqual([
      {
        url: "https://b.example/hook",
        events: ["presence.OFFLINE", "ONLINE"],
        secret: "0123456789abcdef",
        timeout: 2000,
      },
      { url: "http://127.0.0.1:9000", events: ["HEARD"], secret: "0123456789abcdef", timeout: 5000 },
    ]);
    const e = loadConfig({
      env: { COMET_WEBHOOKS: '[{"url":"https://x.example","events":["presence.ONLINE"],"secret":"0123456789abcdef"}]' },
    });
    expect(e.webhooks[0]?.events).toEqual(["presence.ONLINE"]);
  });

  test("each kind of bad webhook entry names the entry and the key, never the secret", () => {
    const ok = 'url: "https://b.example", events: [ONLINE], secret: "0123456789abcdef"';
    expect(bad("webhooks: {url: x}")).toBe("config: webhooks: expected a list of {url, events, secret, timeout}");
    expect(bad("webhooks: [nope]")).toBe("config: webhooks[0]: expected a mapping {url, events, secret, timeout}");
    expect(bad(`webhooks: [{${ok}, retries: 3}]`)).toBe(
      "config: webhooks[0].retries: expected only url, events, secret, timeout",
    );
    expect(bad(`webhooks: [{${ok}}, {${ok.replace("https://b.example", "ftp://b.example")}}]`)).toBe(
      "config: webhooks[1].url: expected an http:// or https:// URL",
    );
    expect(bad(`webhooks: [{${ok.replace('"https://b.example"', "42")}}]`)).toContain("webhooks[0].url");
    expect(bad(`webhooks: [{${ok.replace("[ONLINE]", "[]")}}]`)).toContain(
      "config: webhooks[0].events: expected a non-empty list",
    );
    expect(bad(`webhooks: [{${ok.replace("[ONLINE]", "[presence.AWAY]")}}]`)).toContain('got "presence.AWAY"');
    const weak = bad(`webhooks: [{${ok.replace("0123456789abcdef", "short-secret")}}]`);
    expect(weak).toBe("config: webhooks[0].secret: expected a string of at least 16 characters");
    expect(bad(`webhooks: [{${ok}, timeout: soon}]`)).toContain("config: webhooks[0].timeout: expected a duration");
    expect(bad("", { COMET_WEBHOOKS: "[{" })).toContain("config: webhooks (from COMET_WEBHOOKS): expected a JSON list");
    expect(bad("presence: {offline_grace: 5}")).toContain("config: presence.offline_grace: expected a duration");
  });
});
