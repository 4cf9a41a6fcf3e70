/**
 * The HTTP client every API command shares: where the server is (--server, COMET_URL), the admin
 * token (--token, COMET_ADMIN_TOKEN), and one way to turn each failure into a one-line message.
 */
import { type Command, Option } from "commander";
import { fetchErrorCode } from "../runtime/fetch-error.ts";
import { CliError, usageError } from "./output.ts";

export const DEFAULT_SERVER = "http://127.0.0.1:8080";
const TIMEOUT_MS = 30_000;

export type ApiMethod =
  | "Publish"
  | "Broadcast"
  | "DumpSession"
  | "Batch"
  | "Presence"
  | "Disconnect"
  | "Revocations";

export interface ApiOptions {
  server?: string;
  token?: string;
}

/** --server and --token, with their environment variables, as every API command takes them. */
export function addApiOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option("-s, --server <url>", `the comet instance (default ${DEFAULT_SERVER})`).env("COMET_URL"))
    .addOption(new Option("-t, --token <token>", "an admin token, one of admin.tokens").env("COMET_ADMIN_TOKEN"));
}

/** The --server URL, checked: one of the accepted schemes, no query. An empty value means the default. */
export function serverUrl(
  command: string,
  raw: string | undefined,
  accept: readonly string[] = ["http:", "https:"],
): URL {
  const text = raw || DEFAULT_SERVER;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`${command}: --server: expected a URL like ${DEFAULT_SERVER}, got ${JSON.stringify(text)}`);
  }
  if (!accept.includes(url.protocol) || url.search || url.hash) {
    const schemes = accept.includes("ws:") ? "http(s) or ws(s)" : "http(s)";
    throw usageError(
      `${command}: --server: expected an ${schemes} URL like ${DEFAULT_SERVER}, got ${JSON.stringify(text)}`,
    );
  }
  return url;
}

/** A path under the server URL, keeping any path prefix it has (a proxy may mount comet below /). */
export function under(url: URL, path: string): URL {
  const base = new URL(url.href);
  if (!base.pathname.endsWith("/")) base.pathname += "/";
  return new URL(path, base);
}

/** POSTs one API call; returns the body of a 200, or throws a CliError that names what went wrong. */
export async function callApi(command: string, opts: ApiOptions, method: ApiMethod, body: string): Promise<string> {
  const url = under(serverUrl(command, opts.server), `comet/Comet/${method}`);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let res: Response;
  let text: string;
  try {
    res = await fetch(url, { method: "POST", headers, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
    text = await res.text();
  } catch (err) {
    throw unreachable(command, url, err);
  }
  if (res.status === 200) return text;
  throw httpError(command, url, res, text, Boolean(opts.token));
}

function unreachable(command: string, url: URL, err: unknown): CliError {
  const e = err as { name?: string; message?: string };
  if (e?.name === "TimeoutError")
    return new CliError(`${command}: no answer from ${url.href} within ${TIMEOUT_MS / 1000}s`);
  const code = fetchErrorCode(err);
  const why = code ? describeCode(code) : (e?.message ?? String(err));
  return new CliError(
    `${command}: cannot reach the comet server at ${url.origin} (${why}); check --server or COMET_URL`,
  );
}

function describeCode(code: string): string {
  switch (code) {
    case "ConnectionRefused":
    case "ECONNREFUSED":
      return "connection refused";
    case "ENOTFOUND":
    case "DNSException":
      return "host not found";
    case "ConnectionClosed":
    case "ECONNRESET":
      return "connection closed by the peer";
    default:
      return code;
  }
}

function httpError(command: string, url: URL, res: Response, text: string, hadToken: boolean): CliError {
  let detail = "";
  try {
    const body = JSON.parse(text) as { detail?: unknown };
    if (typeof body?.detail === "string") detail = body.detail;
  } catch {
    // Not the API's JSON: a proxy or another service answered.
  }
  const status = `${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
  switch (res.status) {
    case 401:
      return new CliError(
        hadToken
          ? `${command}: server answered ${status}: wrong admin token (--token or COMET_ADMIN_TOKEN is not one of the server's admin.tokens)`
          : `${command}: server answered ${status}: no admin token given: pass --token or set COMET_ADMIN_TOKEN`,
      );
    case 404:
    case 405:
      return new CliError(`${command}: server answered ${status} for ${url.href}: is --server a comet instance?`);
    default:
      if (detail) return new CliError(`${command}: server answered ${status}: ${detail}`);
      return new CliError(
        `${command}: server answered ${status} for ${url.href}${text ? `: ${text.replace(/\s+/g, " ").trim().slice(0, 200)}` : ""}`,
      );
  }
}
