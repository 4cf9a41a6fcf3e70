/** The client's options, events and close-code policy, and the checks its constructor applies. */
import type { Gap, PushPosition } from "./positions.ts";

export type { Gap, PushPosition } from "./positions.ts";
export type CometState = "connecting" | "open" | "reconnecting" | "closed";

export interface CometClientOptions {
  /** ws(s)://host:port/comet/Comet/Subscribe */
  url: string;
  /** A JWT, or a function that fetches one: called for every connection and before each token expires. */
  token: string | (() => Promise<string>);
  /** The room to follow; rejoined after every reconnect. */
  rid?: string;
  /** Cap of the first reconnect delay in ms (default 500); each further retry doubles the cap. */
  backoffBase?: number;
  /** No reconnect delay is longer than this, in ms (default 30000). */
  backoffMax?: number;
  /** The server's heartbeat.interval in ms (default 60000): a link that brings no frame for 3× this is dead. */
  heartbeatInterval?: number;
  /**
   * Ask for positions (default true): every PUSH carries its stream, seq and epoch; duplicates
   * are dropped and a skipped seq raises `gap`. false: the frames of the original protocol.
   */
  positions?: boolean;
  /**
   * With positions, send `recover` on every reconnect and on a JOIN back into a room (default
   * true): what was missed meanwhile is replayed, or a `gap` says it cannot be.
   */
  recover?: boolean;
  /**
   * "websocket" (default); "sse": Server-Sent Events on the same URL over http(s), downlink only,
   * a room change is a new stream; "auto": WebSocket, and SSE when a WebSocket cannot be opened
   * (the upgrade refused, a proxy that strips it), WebSocket again after upgradeRetry.
   */
  transport?: "websocket" | "sse" | "auto";
  /** auto: how long to stay on SSE before trying WebSocket again, in ms (default 120000). */
  upgradeRetry?: number;
}

export interface CometClientEvents {
  /** A PUSH arrived: its evt, exactly as published, and its position when positions are on. */
  push: (evt: string, position?: PushPosition) => void;
  /**
   * The server answered a `recover`: for each stream it named (u, r, w), whether what was missed
   * was replayed (it came, in order, before this event). Each false one is also a `gap`. Over SSE
   * the server reports only a recovery that failed somewhere (`event: gap`, before the replay):
   * a stream that recovered in full shows no event.
   */
  recovered: (report: Readonly<Record<string, boolean>>) => void;
  /** Messages of a stream were lost and will not come: fetch the state from the backend (SYNC). */
  gap: (gap: Gap) => void;
  /** The socket is open and AUTH is sent. */
  open: () => void;
  /**
   * A connection ended. When it runs, `state` already tells what follows: `reconnecting`, or
   * `closed` when the client stopped (a final code, or close()); the reason says why. Over SSE,
   * the server's `event: close` gives the code and reason as a WebSocket's close would.
   */
  close: (code: number, reason: string) => void;
  state: (state: CometState) => void;
}

/**
 * Retrying cannot help after these: the token was refused (4401), the room was refused (4403), the
 * same uid logged in elsewhere (4409), or an operator disconnected the session (4410). The client
 * stops: its `close` event has the code and the server's reason, with state "closed".
 */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([4401, 4403, 4409, 4410]);

/** Code reported when the client gives up on a silent link (the server's own code for a heartbeat timeout). */
export const SILENT_LINK_CODE = 4408;
/** Code reported when a connection ends without a close frame: refused, unreachable, or no token. */
export const ABNORMAL_CODE = 1006;

/** The options checked, with their defaults filled in. */
export interface ClientSettings {
  url: string;
  token: string | (() => Promise<string>);
  rid: string;
  backoff: { base: number; max: number };
  heartbeat: number;
  positions: boolean;
  recover: boolean;
  transport: "websocket" | "sse" | "auto";
  upgradeRetry: number;
}

export function readOptions(options: CometClientOptions): ClientSettings {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new TypeError(`CometClient: url: expected a ws:// or wss:// URL, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") {
    throw new TypeError(`CometClient: url: expected a ws:// or wss:// URL, got ${JSON.stringify(options.url)}`);
  }
  if (typeof options.token !== "string" && typeof options.token !== "function") {
    throw new TypeError("CometClient: token: expected a string or a function returning a Promise of one");
  }
  return {
    url: options.url,
    token: options.token,
    rid: options.rid ?? "",
    backoff: {
      base: positive("backoffBase", options.backoffBase, 500),
      max: positive("backoffMax", options.backoffMax, 30_000),
    },
    heartbeat: positive("heartbeatInterval", options.heartbeatInterval, 60_000),
    positions: flag("positions", options.positions),
    recover: flag("recover", options.recover),
    transport: transportOf(options.transport),
    upgradeRetry: positive("upgradeRetry", options.upgradeRetry, 120_000),
  };
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !(value > 0) || !Number.isFinite(value)) {
    throw new TypeError(`CometClient: ${name}: expected a positive number of milliseconds, got ${String(value)}`);
  }
  return value;
}

function flag(name: string, value: boolean | undefined): boolean {
  if (value === undefined) return true;
  if (typeof value !== "boolean")
    throw new TypeError(`CometClient: ${name}: expected true or false, got ${String(value)}`);
  return value;
}

function transportOf(value: unknown): "websocket" | "sse" | "auto" {
  if (value === undefined) return "websocket";
  if (value === "websocket" || value === "sse" || value === "auto") return value;
  throw new TypeError(`CometClient: transport: expected "websocket", "sse" or "auto", got ${JSON.stringify(value)}`);
}
