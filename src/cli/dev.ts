/**
 * `comet serve --dev`: loopback only, secrets made for the run and said loudly, gRPC and the demo
 * page on where the runtime serves them; and the banner that tells a newcomer what to run next.
 */
import { describeKeySource } from "../auth/jwt.ts";
import { isLoopback, parseListen } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { generateSecret } from "../config/strength.ts";
import { capabilities, runScriptCommand } from "../runtime/listen.ts";
import { showAddress } from "../util/address.ts";
import { readConfig } from "./config.ts";
import { usageError } from "./output.ts";

const DEV_GRPC_PORT = 9090;

/** The secrets --dev made for this run (kept across reloads). */
export type Generated = { secret?: string; admin?: string };

export function devConfig(
  cfg: Config,
  opts: { config?: string; listen?: string },
  kept?: Generated,
): { cfg: Config; generated: Generated } {
  const listenGiven = opts.listen ?? process.env.COMET_LISTEN;
  let listen = `127.0.0.1:${cfg.listen.port}`;
  if (listenGiven) {
    if (!isLoopback(cfg.listen.host))
      throw usageError(`serve --dev binds to loopback only, got --listen ${listenGiven}`);
    listen = showAddress(cfg.listen.host, cfg.listen.port);
  }
  const generated: Generated = {};
  // The demo page's assets are embedded by a build-time macro: where it is not served, --dev runs without it.
  const overrides: Record<string, unknown> = { listen, "ui.enabled": String(capabilities.demoPage) };
  // The embedded broker too: on loopback only, whoever reaches it can push to any user.
  const embedded = cfg.mqtt.embedded.listen;
  if (embedded && !isLoopback(parseListen("mqtt.embedded.listen", embedded).host))
    throw usageError(`serve --dev binds to loopback only, got mqtt.embedded.listen ${embedded}`);
  if (cfg.grpc.listen) {
    if (!isLoopback(parseListen("grpc.listen", cfg.grpc.listen).host))
      throw usageError(`serve --dev binds to loopback only, got grpc.listen ${cfg.grpc.listen}`);
  } else if (capabilities.grpc) {
    // gRPC on in dev mode at its usual port; on an ephemeral one when HTTP asked for one (port
    // 0), so that several dev instances, tests among them, never collide on 9090.
    overrides["grpc.listen"] = `127.0.0.1:${cfg.listen.port === 0 ? 0 : DEV_GRPC_PORT}`;
  }
  // On a reload, a secret the start did not make (the file had its own) is not made now either:
  // with the file's own removed, the reload is refused as a start without one would be.
  if (!describeKeySource(cfg)) {
    generated.secret = kept ? kept.secret : generateSecret();
    if (generated.secret) overrides["auth.jwt.hs256_secret"] = generated.secret;
  }
  if (cfg.admin.tokens.length === 0) {
    generated.admin = kept ? kept.admin : generateSecret();
    if (generated.admin) overrides["admin.tokens"] = generated.admin;
  }
  return { cfg: readConfig(opts.config, overrides), generated };
}

/** How this program is run, so that printed commands can be pasted as they are. */
export function selfCommand(): string {
  const main = process.argv[1] ?? "";
  if (main.endsWith(".ts") || main.endsWith(".js")) {
    const rel = main.startsWith(`${process.cwd()}/`) ? main.slice(process.cwd().length + 1) : main;
    return `${process.env.npm_config_user_agent ? "npx " : ""}${runScriptCommand(rel)}`;
  }
  return process.execPath;
}

export function printDevBanner(url: string, grpcAt: string | undefined, g: Generated, workers = 1): void {
  const self = selfCommand();
  const lines = [
    "",
    "  ================ COMET DEV MODE: not for production ================",
    `  listening on ${url} (loopback only)${capabilities.demoPage ? `; the demo page is at ${url}/` : ""}`,
    grpcAt === undefined ? "" : `  gRPC (comet.Comet) on ${grpcAt}`,
    workers > 1 ? `  ${workers} worker processes share these ports (SO_REUSEPORT); this one supervises them` : "",
  ];
  if (g.secret || g.admin) lines.push("  secrets generated for this run only:");
  if (g.admin) lines.push(`    admin token (API):       ${g.admin}`);
  if (g.secret) lines.push(`    JWT HS256 secret:        ${g.secret}`);
  lines.push(
    "",
    "  in another shell:",
    `    export COMET_URL=${url}`,
    g.admin ? `    export COMET_ADMIN_TOKEN=${g.admin}` : "    export COMET_ADMIN_TOKEN=<one of admin.tokens>",
    g.secret ? `    export COMET_AUTH_JWT_HS256_SECRET=${g.secret}` : "",
    `    ${self} subscribe --uid alice --rid lobby   # a client that prints each event`,
    `    ${self} publish --uid alice --evt hello     # push to it`,
    `    ${self} token --uid alice                   # a subscriber JWT for your own client`,
    "  =====================================================================",
    "",
  );
  process.stderr.write(
    `${lines
      .filter((l) => l !== "")
      .join("\n")
      .replace("\n  in another", "\n\n  in another")}\n\n`,
  );
}
