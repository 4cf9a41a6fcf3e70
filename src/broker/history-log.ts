/**
 * The history half of the broker contract (issue 29): one log per stream, shared by every
 * instance, so that a stream's `seq` and `epoch` are the cluster's and `recover` works on whatever
 * instance a client reaches. Stream names: "u:<uid>" for a user's stream (the frames still say
 * "u"), "r:<rid>" for a room's, "w" for the world's. Nothing here knows the hub or the gateway.
 */

/** Where a client stands in a stream: the last message it has. */
export interface Position {
  /** Opaque; changes only when the stream's numbering restarts (the store lost the stream). */
  epoch: string;
  /** The last seq it has, 0 before the first message. */
  seq: number;
}

/** One kept message of a stream. */
export interface LogEntry {
  seq: number;
  /** As published: opaque, never parsed. */
  evt: string;
}

/** One log per stream name. Every method that reaches the store rejects with HistoryUnavailable when it cannot. */
export interface HistoryLog {
  /**
   * Numbers evt in the stream, atomically with the append (the seq comes from the log, so two
   * instances appending to one stream get distinct, consecutive seqs), keeps it within the
   * stream's size and ttl, and answers its position.
   */
  append(stream: string, evt: string): Promise<Position>;

  /**
   * Several appends, in order (a Batch): one round trip per shard, the shards at once. Answers the
   * positions in the order of items. When a shard fails, rejects with a HistoryUnavailable whose
   * `landed` says which items were appended all the same (those on the shards that answered), so
   * that the caller can deliver those and refuse only the others.
   */
  appendMany(items: ReadonlyArray<{ stream: string; evt: string }>): Promise<Position[]>;

  /**
   * An append that happens once for every caller that names the same `mark` within `windowMs`: a
   * broker Event reaches several instances, and each appends it with the Event's digest as its
   * mark. The first call numbers it (`first`); the others get that same position.
   */
  appendOnce(stream: string, evt: string, mark: string, windowMs: number): Promise<Position & { first: boolean }>;

  /**
   * The stream's top as the store has it, without making it: null when the store has no such
   * stream (its next append starts a new epoch at seq 1).
   */
  peek(stream: string): Promise<Position | null>;

  /**
   * What follows `from`, oldest first, when ALL of it is still kept: never a partial list. [] when
   * `from` is the top. null when it cannot be recovered: another epoch (or a stream the store does
   * not have), a seq ahead of the stream, a message after it trimmed by size or older than ttl.
   */
  since(stream: string, from: Position): Promise<LogEntry[] | null>;

  /**
   * The stream's top now: its epoch (made, with seq 0, when the store has no such stream, so that
   * the next append continues under it) and its last seq.
   */
  top(stream: string): Promise<Position>;

  /**
   * The entries with seq in (after, upTo] under `epoch`, when all of them are kept (for filling a
   * hole in what an instance received); null when not, or when upTo is past the top.
   */
  range(stream: string, after: number, upTo: number, epoch: string): Promise<LogEntry[] | null>;

  /** undefined when every shard is reachable; else why not, naming each unreachable shard (password hidden). For /readyz. */
  notReady(): string | undefined;

  /** Closes the connections; calls after it reject. */
  close(): Promise<void>;
}

/** What the API answers (HTTP 503, gRPC UNAVAILABLE) when the store cannot take a publication. */
export const HISTORY_UNAVAILABLE = "history store unavailable";

/**
 * The store could not answer (unreachable, too slow, or it refused the command). The caller
 * answers 503 "history store unavailable" and delivers nothing of what did not land.
 */
export class HistoryUnavailable extends Error {
  override name = "HistoryUnavailable";

  constructor(
    /** What failed and where: the operation, the stream, the shard (password hidden), the store's error. */
    readonly context: string,
    options?: {
      cause?: unknown;
      /** appendMany only: per item, its position when it was appended all the same, else undefined. */
      landed?: ReadonlyArray<Position | undefined>;
    },
  ) {
    super(`history store unavailable: ${context}`, options);
    this.landed = options?.landed;
  }

  /** appendMany only: per item, its position when it was appended all the same, else undefined. */
  readonly landed: ReadonlyArray<Position | undefined> | undefined;
}
