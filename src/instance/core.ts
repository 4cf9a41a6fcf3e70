/**
 * The core every part of an instance is installed on: the checked config, the runtime, the
 * metrics registry, the hub, the gateway and the admin tokens. Made first; made once.
 */
import { AdminAuth } from "../auth/admin.ts";
import { ADMIN_FAILURES_PER_SECOND, FailureLimiter } from "../auth/failures.ts";
import { buildVerifier } from "../auth/jwt.ts";
import { RevocationTable } from "../auth/revocations.ts";
import { instanceId } from "../util/instance-id.ts";
import { parseListen } from "../config/load.ts";
import { checkRuntime } from "./preflight.ts";
import type { Config, Listen } from "../config/schema.ts";
import { checkStrength } from "../config/strength.ts";
import { readTls } from "../config/tls.ts";
import { Gateway } from "../gateway/gateway.ts";
import { Hub } from "../hub/hub.ts";
import { registerHubMetrics } from "../hub/metrics.ts";
import type { Logger } from "../log.ts";
import { type ApiMetrics, apiMetrics } from "../metrics/api.ts";
import { registerProcessMetrics } from "../metrics/process.ts";
import { Registry } from "../metrics/registry.ts";
import { runtimeAdapter } from "../runtime/listen.ts";
import type { RuntimeAdapter } from "../runtime/types.ts";
import type { Part } from "../part.ts";

export interface Core {
  readonly config: Config;
  readonly log: Logger;
  /** This instance's id: the `server` of its activity, presence and webhooks. */
  readonly id: string;
  readonly runtime: RuntimeAdapter;
  readonly registry: Registry;
  readonly api: ApiMetrics;
  readonly hub: Hub;
  readonly gateway: Gateway;
  readonly admin: AdminAuth;
  /** Revoked tokens: every AUTH asks; the bridge, when on, keeps them in step with the broker. */
  readonly revocations: RevocationTable;
  /** grpc.listen parsed; undefined when it is empty. */
  readonly grpcAddr: Listen | undefined;
  readonly tls: { cert: string; key: string } | undefined;
  /** The digest of the JWT key material in force (a reload compares against it). */
  readonly keysFingerprint: string;
  /** The core's own part: readiness while draining, the admin tokens on reload, the sweep's stop. */
  readonly part: Part;
}

function adminAuth(config: Config, api: ApiMetrics): AdminAuth {
  const failures = (outcome: string) => {
    const c = api.adminAuthFailures.with({ outcome });
    c.inc(0); // both series exist from the start, so that a rate over them is defined
    return c;
  };
  return new AdminAuth(
    config.admin.tokens,
    new FailureLimiter(ADMIN_FAILURES_PER_SECOND, {
      unauthorized: failures("unauthorized"),
      limited: failures("rate_limited"),
    }),
  );
}

export async function makeCore(config: Config, log: Logger): Promise<Core> {
  checkStrength(config);
  const keys = buildVerifier(config);
  const runtime = await runtimeAdapter();
  // Workers are the supervisor's to check (workers/start.ts): an instance is one of them.
  checkRuntime(config, 1);
  const grpcAddr = config.grpc.listen ? parseListen("grpc.listen", config.grpc.listen) : undefined;
  const tls = config.tls.cert_file || config.tls.key_file ? readTls(config) : undefined;
  const registry = new Registry();
  const api = apiMetrics(registry);
  const hub = new Hub({
    history: { size: config.history.size, ttl: config.history.ttl, maxBytes: config.history.max_bytes },
  });
  const revocations = new RevocationTable(config.auth.revocation_ttl);
  const gateway = new Gateway({
    config,
    hub,
    verify: keys.verify,
    revoked: (uid, iatMs) => revocations.revoked(uid, iatMs),
    registry,
    log,
    collectGarbage: runtime.collectGarbage,
  });
  registerHubMetrics(registry, hub);
  registry.gauge("comet_revocations", "Revocations in force (a Disconnect's revoke), this instance's view", () => revocations.size);
  registerProcessMetrics(registry);
  const admin = adminAuth(config, api);
  const part: Part = {
    ready: () => (gateway.draining ? "shutting down" : undefined),
    reload: (next) => admin.setTokens(next.admin.tokens),
    close: () => gateway.stop(),
  };
  return {
    config,
    log,
    id: instanceId(),
    runtime,
    registry,
    api,
    hub,
    gateway,
    admin,
    revocations,
    grpcAddr,
    tls,
    keysFingerprint: keys.fingerprint,
    part,
  };
}
