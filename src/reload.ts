/**
 * A reload of a running instance (SIGHUP): the config is read again and, when it is valid as a
 * start would judge it, its reloadable keys (config/reload.ts) are applied all at once, between
 * two events, so that no AUTH or request sees half of it. A config that is not valid changes
 * nothing: a typo in the file must not take an instance's keys away while it serves.
 */
import { buildVerifier, describeKeySource } from "./auth/jwt.ts";
import { planReload } from "./config/reload.ts";
import type { Config } from "./config/schema.ts";
import { checkStrength } from "./config/strength.ts";
import type { Gateway } from "./gateway/gateway.ts";
import type { Parts } from "./part.ts";
import type { Counter } from "./metrics/registry.ts";
import type { Logger } from "./log.ts";

export type ReloadOutcome = { ok: true; changed: string[]; restart: string[] } | { ok: false; reason: string };

export class Reloader {
  private readonly counted: Record<"ok" | "invalid", { inc(by?: number): void }>;

  constructor(
    private readonly deps: {
      gateway: Gateway;
      log: Logger;
      reloads: Counter;
      /** Each part applies what it holds of the reloadable keys (the admin tokens, the webhooks). */
      parts: Parts;
    },
    /** The digest of the key material in force (auth/jwt.ts buildVerifier). */
    private fingerprint: string,
  ) {
    const series = (outcome: string) => deps.reloads.with({ outcome });
    this.counted = { ok: series("ok"), invalid: series("invalid") };
    // Both series exist from the start, so that an alert on invalid reloads has something to read.
    this.counted.ok.inc(0);
    this.counted.invalid.inc(0);
  }

  /** `read` gives the config as a start would read it, and throws what a start would refuse. */
  reload(read: () => Config): ReloadOutcome {
    const { gateway, log, parts } = this.deps;
    let plan: ReturnType<typeof planReload>;
    let built: ReturnType<typeof buildVerifier>;
    try {
      plan = planReload(gateway.config, read());
      checkStrength(plan.applied);
      // Built even when no auth.jwt key changed: a JWKS or PEM file may have been rotated in place.
      built = buildVerifier(plan.applied);
    } catch (err) {
      const reason = (err as Error).message;
      this.counted.invalid.inc();
      log.error("config reload refused: the running config stays", { reason });
      return { ok: false, reason };
    }
    const { applied, restart } = plan;
    const changed = [...plan.changed];
    // The same path with other keys in it: the file was rotated in place.
    const source = `auth.jwt.${describeKeySource(applied)}`;
    if (built.fingerprint !== this.fingerprint && !changed.includes(source)) changed.push(`${source} (contents)`);
    gateway.rekey(applied, built.verify);
    log.setLevel(applied.log.level);
    parts.reload(applied, changed);
    this.fingerprint = built.fingerprint;
    this.counted.ok.inc();
    for (const key of restart) log.warn("config key changed, not applied: it needs a restart", { key });
    log.info("config reloaded", { changed, not_applied: restart.length > 0 ? restart : undefined });
    return { ok: true, changed, restart };
  }
}
