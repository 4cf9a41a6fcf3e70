/**
 * What `comet serve` refuses before it listens, short of the network: the keys a server needs,
 * their strength, the files keys name (JWT keys, TLS pair, broker CAs), the rules that span keys,
 * and what the runtime running this process cannot serve. `comet config check` runs it alone.
 * `serve` makes each of these checks where it builds the part they concern (serve.ts, server.ts),
 * so that nothing is read twice; test/cli/config-errors.test.ts holds the two to the same answers.
 * Every failure is a ConfigError that names its key.
 */
import { buildVerifier, describeKeySource } from "../auth/jwt.ts";
import { bridgeSettings } from "../bridge/settings.ts";
import { redisStoreSettings } from "../shared-log/store-settings.ts";
import { ConfigError } from "../errors.ts";
import { trustedProxies } from "../gateway/admission.ts";
import { capabilities, runtimeName } from "../runtime/listen.ts";
import { workerCount } from "../config/workers.ts";
import { parseListen } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { checkStrength } from "../config/strength.ts";
import { readTls } from "../config/tls.ts";

export interface PreflightOptions {
  /** `serve --workers N`, which overrides the `workers` key. */
  workers?: number;
}

export function preflight(cfg: Config, opts: PreflightOptions = {}): void {
  requireSecrets(cfg);
  checkStrength(cfg);
  buildVerifier(cfg);
  checkRuntime(cfg, workerCount(opts.workers ?? cfg.workers));
  trustedProxies(cfg.trusted_proxies);
  if (cfg.tls.cert_file || cfg.tls.key_file) readTls(cfg);
  bridgeSettings(cfg);
  redisStoreSettings(cfg);
}

/** A server never starts silently insecure: without a JWT key or admin tokens it refuses (--dev makes its own). */
export function requireSecrets(cfg: Config): void {
  if (!describeKeySource(cfg)) {
    throw new ConfigError(
      "auth.jwt",
      "no JWT key configured: set auth.jwt.hs256_secret (env COMET_AUTH_JWT_HS256_SECRET), auth.jwt.public_key_file or auth.jwt.jwks_file; or try it locally with `comet serve --dev`",
    );
  }
  if (cfg.admin.tokens.length === 0) {
    throw new ConfigError(
      "admin.tokens",
      "no admin token configured: set admin.tokens (env COMET_ADMIN_TOKENS, comma-separated) for the HTTP API; or try it locally with `comet serve --dev`",
    );
  }
}

/** What is served on Bun only; a config that asks for it elsewhere stops the start rather than running without it. */
export function checkRuntime(cfg: Config, workers: number): void {
  if (cfg.grpc.listen) parseListen("grpc.listen", cfg.grpc.listen);
  if (cfg.grpc.listen && !capabilities.grpc) {
    throw new ConfigError(
      "grpc.listen",
      `set, but gRPC is not served on ${runtimeName}: leave it empty, or run on Bun`,
    );
  }
  if (cfg.ui.enabled && !capabilities.demoPage) {
    throw new ConfigError(
      "ui.enabled",
      `true, but the demo page is not served on ${runtimeName}: set it false, or run on Bun`,
    );
  }
  if (cfg.websocket.compression === "on" && !capabilities.compression) {
    throw new ConfigError(
      "websocket.compression",
      `on needs permessage-deflate, which ${runtimeName} cannot negotiate; set it off, or run on Bun`,
    );
  }
  if (workers > 1 && !capabilities.workers) {
    throw new ConfigError(
      "workers",
      `${workers} worker processes are served on Bun only; run one instance per core under ${runtimeName} (workers: 1) on ports of their own, tied by mqtt.url`,
    );
  }
}
