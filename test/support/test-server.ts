/**
 * What a test sees of a comet server, whichever runtime it runs on: the in-process RunningServer
 * (the Bun run) satisfies it as it is; remote.ts keeps a copy of it fresh from a Deno process.
 */
import type { ActivityListener } from "../../src/hub/activity.ts";

export interface SessionState {
  readonly uid: string;
  readonly rid: string;
  /** Milliseconds since the epoch. */
  readonly birth: number;
}

export interface ConnectionState {
  /** The uid of its session; undefined before AUTH and once the session has ended. */
  readonly uid: string | undefined;
  /** The server closes it, as its own sweep or the hub would. */
  close(code: number, reason: string): void;
}

export interface TestServer {
  readonly url: string;
  readonly port: number;
  /** The bound gRPC port when grpc.listen is set (Bun only). */
  readonly grpcPort?: number;
  /** The WebSocket URL of /comet/Comet/Subscribe. */
  readonly ws: string;
  readonly hub: {
    readonly sessions: ReadonlyMap<string, SessionState>;
    /** Each room by rid; only its member count is looked at. */
    readonly rooms: ReadonlyMap<string, { readonly size: number }>;
    /** Every activity from now on, in the order the hub emitted it. */
    onActivity(listener: ActivityListener): () => void;
  };
  readonly gateway: {
    readonly connections: Iterable<ConnectionState> & { readonly size: number };
    readonly draining: boolean;
  };
  readonly bridge:
    | {
        readonly id: string;
        readonly embedded: { readonly url: string; readonly port: number } | undefined;
      }
    | undefined;
  drain(): Promise<void>;
  stop(): Promise<void>;
}
