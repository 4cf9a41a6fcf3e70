/** The lines between a test process (remote.ts) and a server process (deno-server.ts): JSON, one per line. */
import type { Activity } from "../../src/hub/activity.ts";

export interface StartParams {
  yaml: string;
  env: Record<string, string>;
  /** HOST:PORT; port 0 = any free port. */
  listen: string;
  /** Stream the server's log lines (debug and up). */
  log: boolean;
}

/** Test process → server process, on stdin. Each is answered by an ack with its id. */
export type Command =
  | { op: "sync"; id: number }
  | { op: "close"; id: number; c: number; code: number; reason: string }
  | { op: "quiet"; id: number; sessions: Array<{ uid: string; rid?: string }> }
  | { op: "drain"; id: number }
  | { op: "stop"; id: number };

/** Server process → test process, on stdout, in the order things happened there. */
export type Event =
  | {
      k: "started";
      url: string;
      port: number;
      bridge: { id: string; embedded: { url: string; port: number } | undefined } | undefined;
    }
  | { k: "failed"; message: string }
  /** ONLINE carries the session's birth and its connection (none for a session without a socket). */
  | { k: "act"; a: Activity; birth?: number; c?: number }
  | { k: "open"; c: number }
  | { k: "closed"; c: number }
  | { k: "draining" }
  | { k: "log"; line: string }
  | { k: "ack"; id: number; error?: string };
