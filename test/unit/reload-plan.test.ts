import { describe, expect, test } from "bun:test";
import { loadConfig } from "../../src/config/load.ts";
import { planReload } from "../../src/config/reload.ts";

const cfg = (yaml: string) => loadConfig({ yaml });

describe("planReload", () => {
  test("nothing changed: nothing to apply, nothing to restart, and the running values kept", () => {
    const running = cfg("admin: {tokens: [aaaaaaaaaaaaaaaa]}\nauth: {jwt: {hs256_secret: x}}");
    const plan = planReload(running, cfg("admin: {tokens: [aaaaaaaaaaaaaaaa]}\nauth: {jwt: {hs256_secret: x}}"));
    expect(plan.changed).toEqual([]);
    expect(plan.restart).toEqual([]);
    expect(plan.applied).toEqual(running);
  });

  test("admin.tokens, every auth.jwt key and log.level are applied", () => {
    const running = cfg("admin: {tokens: [old]}\nauth: {jwt: {hs256_secret: s}}");
    const next = cfg(
      "admin: {tokens: [new, newer]}\nauth: {jwt: {jwks_file: /k.json, audience: app, clock_tolerance: 1s}}\nlog: {level: debug}",
    );
    const plan = planReload(running, next);
    expect(plan.changed).toEqual([
      "auth.jwt.hs256_secret",
      "auth.jwt.jwks_file",
      "auth.jwt.audience",
      "auth.jwt.clock_tolerance",
      "admin.tokens",
      "log.level",
    ]);
    expect(plan.restart).toEqual([]);
    expect(plan.applied.admin.tokens).toEqual(["new", "newer"]);
    expect(plan.applied.auth.jwt).toEqual(next.auth.jwt);
    expect(plan.applied.log.level).toBe("debug");
  });

  test("any other key is named for a restart and keeps its running value, the applied keys beside it", () => {
    const running = cfg("listen: 127.0.0.1:8080\nnamespace: a\nadmin: {tokens: [old]}");
    const next = cfg(
      "listen: 127.0.0.1:9090\nnamespace: b\nadmin: {tokens: [new]}\nheartbeat: {interval: 5s}\nauth: {rooms: claim}\nlog: {format: pretty}",
    );
    const plan = planReload(running, next);
    expect(plan.changed).toEqual(["admin.tokens"]);
    expect(plan.restart).toEqual(["namespace", "listen", "auth.rooms", "heartbeat.interval", "log.format"]);
    expect(plan.applied.listen).toEqual({ host: "127.0.0.1", port: 8080 });
    expect(plan.applied.namespace).toBe("a");
    expect(plan.applied.heartbeat.interval).toBe(running.heartbeat.interval);
    expect(plan.applied.auth.rooms).toBe("open");
    expect(plan.applied.admin.tokens).toEqual(["new"]);
    expect(Object.isFrozen(plan.applied.admin.tokens)).toBe(true);
  });
});
