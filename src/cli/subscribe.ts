/**
 * `comet subscribe`: a subscriber in a shell, for debugging a deployment. It is the client SDK
 * (src/client) with its events written to stdout and stderr.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { CometClient } from "../client/index.ts";
import { parseDuration } from "../config/duration.ts";
import { encodePush, encodePushAt } from "../protocol/frames.ts";
import { DEFAULT_SERVER, serverUrl, under } from "./client.ts";
import { readConfig } from "./config.ts";
import { CliError, usageError } from "./output.ts";
import { mintToken } from "./token.ts";

export interface SubscribeOptions {
  server?: string;
  token?: string;
  uid?: string;
  config?: string;
  rid?: string;
  once?: boolean;
  count?: number;
  json?: boolean;
  resume?: boolean;
  heartbeat?: string;
}

export const SUBSCRIBE_PATH = "comet/Comet/Subscribe";

/** The ws(s) endpoint for --server: http(s) maps to ws(s) under the same path; a bare ws(s) URL gets the Subscribe path. */
export function subscribeUrl(server: string | undefined): string {
  const url = serverUrl("subscribe", server, ["http:", "https:", "ws:", "wss:"]);
  if (url.protocol === "ws:" || url.protocol === "wss:") {
    if (url.pathname === "/" || url.pathname === "") url.pathname = `/${SUBSCRIBE_PATH}`;
    return url.href;
  }
  const ws = under(url, SUBSCRIBE_PATH);
  ws.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return ws.href;
}

/** The options checked (each conflict a usage error), and the token or how to mint the next one. */
async function readSubscribeOptions(o: SubscribeOptions): Promise<{
  url: string;
  limit: number | undefined;
  heartbeat: number | undefined;
  token: string | (() => Promise<string>);
}> {
  if (o.token === undefined && o.uid === undefined) {
    throw usageError("subscribe: give --token JWT, or --uid UID to mint one from the serve config's secret");
  }
  if (o.token !== undefined && o.uid !== undefined)
    throw usageError("subscribe: --token and --uid cannot be used together");
  if (o.config !== undefined && o.uid === undefined) {
    throw usageError("subscribe: --config goes with --uid (it holds the secret the token is minted with)");
  }
  if (o.once && o.count !== undefined) throw usageError("subscribe: --once and --count cannot be used together");
  const url = subscribeUrl(o.server);
  const limit = o.once ? 1 : o.count;

  let heartbeat: number | undefined;
  if (o.heartbeat !== undefined) {
    heartbeat = parseDuration(o.heartbeat);
    if (heartbeat === undefined || heartbeat <= 0) {
      throw usageError(`subscribe: --heartbeat: expected a duration like "60s", got ${JSON.stringify(o.heartbeat)}`);
    }
  }

  let token: string | (() => Promise<string>);
  if (o.uid !== undefined) {
    const uid = o.uid;
    const cfg = readConfig(o.config);
    heartbeat ??= cfg.heartbeat.interval;
    // Minted now, so that a missing secret fails before anything connects; later ones on demand.
    let next: string | undefined = await mintToken(cfg, { uid, ttl: "1h" });
    token = async () => {
      const t = next ?? (await mintToken(cfg, { uid, ttl: "1h" }));
      next = undefined;
      return t;
    };
  } else {
    token = o.token as string;
  }
  return { url, limit, heartbeat, token };

}

export async function subscribe(o: SubscribeOptions): Promise<void> {
  const { url, limit, heartbeat, token } = await readSubscribeOptions(o);
  // --json shows positions; --resume also recovers from them after each reconnect.
  const client = new CometClient({
    url,
    token,
    rid: o.rid,
    heartbeatInterval: heartbeat,
    positions: o.json === true || o.resume === true,
    recover: o.resume === true,
  });
  const note = (line: string) => process.stderr.write(`comet: subscribe: ${line}\n`);
  return new Promise<void>((resolve, reject) => {
    let received = 0;
    let done = false;
    let wasOpen = false;
    let reportedDown = false;
    client.on("push", (evt, at) => {
      if (done) return;
      received++;
      const finished = limit !== undefined && received >= limit;
      if (finished) {
        done = true;
        client.close();
      }
      const line = !o.json ? evt : at ? encodePushAt(evt, at.stream, at.seq, at.epoch) : encodePush(evt);
      process.stdout.write(`${line}\n`, () => {
        if (finished) resolve();
      });
    });
    client.on("recovered", (report) => {
      const streams = Object.entries(report).map(([k, ok]) => `${k} ${ok ? "recovered" : "NOT recovered"}`);
      note(`resumed: ${streams.join(", ")}`);
    });
    client.on("gap", (gap) => {
      const missed = gap.missed === undefined ? "" : ` (${gap.missed} missed)`;
      note(`gap in stream ${gap.stream}: ${gap.reason}${missed}; messages were lost, not replayed`);
    });
    client.on("open", () => {
      wasOpen = true;
      reportedDown = false;
      note(`connected to ${url}`);
    });
    client.on("close", (code, reason) => {
      if (done) return;
      const why = `${code}${reason ? ` (${reason})` : ""}`;
      if (client.state === "closed") {
        done = true;
        reject(new CliError(`subscribe: closed by the server: ${why}`));
      } else if (wasOpen) {
        wasOpen = false;
        note(`connection lost: ${why}; reconnecting`);
      } else if (!reportedDown) {
        reportedDown = true;
        note(`cannot connect to ${url}: ${why}; retrying with backoff`);
      }
    });
    // Ctrl-C ends the session cleanly: the server sees 1000, not a dropped connection.
    const stop = (signal: NodeJS.Signals) => {
      const code = signal === "SIGINT" ? 130 : 143;
      if (done) process.exit(code);
      done = true;
      client.close();
      setTimeout(() => process.exit(code), 100);
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
    void client.connect();
  });
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError("expected a whole number of at least 1");
  return Number(value);
}

export function registerSubscribe(program: Command): Command {
  return program
    .command("subscribe")
    .description("connect as a subscriber and print each pushed evt on its own line")
    .addOption(
      new Option("-s, --server <url>", `http(s) or ws(s) URL of the instance (default ${DEFAULT_SERVER})`).env(
        "COMET_URL",
      ),
    )
    .option("-t, --token <jwt>", "the subscriber's JWT")
    .option("-u, --uid <uid>", "mint a token for this uid from the serve config (needs auth.jwt.hs256_secret)")
    .option("-c, --config <file>", "the serve config, with --uid (env COMET_CONFIG)")
    .option("-r, --rid <rid>", "a room to join (rejoined after every reconnect)")
    .option("--once", "exit 0 after the first event")
    .option("-n, --count <n>", "exit 0 after n events", positiveInt)
    .option("--json", "print each PUSH frame as one JSON line instead of the bare evt, with its position")
    .option(
      "--resume",
      "after a reconnect, recover what was missed from the last positions (a gap that cannot be is named on stderr)",
    )
    .option(
      "--heartbeat <duration>",
      "the server's heartbeat.interval: 3x without a frame = a dead link (default 60s, or the config's)",
    )
    .addHelpText(
      "after",
      `
Reconnects with backoff when the connection is lost. A close that retrying cannot fix (4401 token
refused, 4403 room refused, 4409 replaced by another login of the uid, 4410 disconnected by an
operator) exits 1 and names the code.
An evt holding newlines spans several lines; --json keeps one event per line. --resume replays
what a lost connection missed, once and in order per stream, while the server still keeps it
(history.size, history.ttl); what it no longer keeps is named on stderr as a gap.

Examples:
  comet subscribe --uid alice --rid lobby --config comet.yaml
  comet subscribe --token "$(comet token --uid bob)" --server https://comet.example.com --json
  comet subscribe --uid alice --once   # waits for one event, prints it, exits 0`,
    )
    .action((opts: SubscribeOptions) => subscribe(opts));
}
