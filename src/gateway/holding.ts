/**
 * A session that starts or recovers from the shared log (history.store: redis) waits for answers
 * from Redis: the log's tops for an HTTP stream's first id, what followed the client's position.
 * Meanwhile new messages keep coming, and none may reach the client before its replay and its
 * report, nor twice. So the connection holds its live deliveries: the hub's subscription of the
 * session is taken here instead of by the socket (HeldTopics is a fan-out of the hub, as the
 * runtime's topics are), what the hub sends the session waits here, and at the end the topic is
 * subscribed for real and what waited goes out, less what the replay already carried.
 */
import type { Downlink } from "../protocol/downlink.ts";
import type { Position, Recover } from "../protocol/frames.ts";
import type { Fanout, PushSocket } from "../runtime/types.ts";

/** Per stream as frames name it ("u", "r:<rid>", "w"): the last position a replay sent. */
export type Replayed = ReadonlyMap<string, Position>;

/** What a recovery from the log gives the connection to send, in order. */
export interface Replay {
  frames: Downlink[];
  /** The HB with `recovered`, one key per stream the recover named. */
  report: Downlink;
  replayed: Replayed;
}

/** The shared log's side of a session's start (src/shared-log/log-recovery.ts). */
export interface LogStart {
  readonly held: HeldTopics;
  /** The session's position in each of its streams now (the log's tops): an HTTP stream's first id. */
  heads(uid: string, rid: string): Promise<Recover>;
  recover(uid: string, rid: string, r: Recover): Promise<Replay>;
  /** Resolves once this instance's live delivery has passed what the replay sent (bounded by fill_wait). */
  settle(uid: string, rid: string, replayed: Replayed): Promise<void>;
}

/** The topics of held sessions: the hub publishes here as to any fan-out. */
export class HeldTopics implements Fanout {
  private readonly topics = new Map<string, Set<Holding>>();

  publish(topic: string, frame: Downlink): void {
    const set = this.topics.get(topic);
    if (set) for (const h of set) h.push(frame);
  }

  add(topic: string, h: Holding): void {
    let set = this.topics.get(topic);
    if (!set) {
      set = new Set();
      this.topics.set(topic, set);
    }
    set.add(h);
  }

  remove(topic: string, h: Holding): void {
    const set = this.topics.get(topic);
    if (!set) return;
    set.delete(h);
    if (set.size === 0) this.topics.delete(topic);
  }
}

/** One connection's held deliveries. */
export class Holding {
  private topic: string | undefined;
  private frames: Downlink[] = [];

  constructor(private readonly topics: HeldTopics) {}

  subscribe(topic: string): void {
    if (this.topic !== undefined) this.topics.remove(this.topic, this);
    this.topic = topic;
    this.topics.add(topic, this);
  }

  /** True when the topic was the held one (else the socket holds it). */
  unsubscribe(topic: string): boolean {
    if (topic !== this.topic) return false;
    this.topics.remove(topic, this);
    this.topic = undefined;
    return true;
  }

  push(frame: Downlink): void {
    this.frames.push(frame);
  }

  /** The hold ends: the topic goes to the socket, then what waited, less what the replay carried. */
  release(subscribe: (topic: string) => void, send: (f: Downlink) => void, replayed: Replayed): void {
    const frames = this.drop();
    if (this.topic !== undefined) subscribe(this.topic);
    this.topic = undefined;
    for (const f of frames) {
      const r = f.t === "PUSH" && f.stream !== "" ? replayed.get(f.stream) : undefined;
      if (r && r.epoch === f.epoch && f.seq <= r.seq) continue;
      send(f);
    }
  }

  /**
   * Runs the start from the log for a connection (startFromLog), then releases what it held into
   * the socket. `heldTopic`: the topic the session is in already, whose broadcasts wait too from now.
   */
  run(
    start: LogStart,
    at: { uid: string; rid: string },
    c: {
      socket: Pick<PushSocket, "subscribe" | "unsubscribe" | "started">;
      steps: { recover?: Recover; opening: boolean; heldTopic?: string };
      send: (f: Downlink) => void;
      current: () => boolean;
      done: () => void;
    },
  ): void {
    const { socket, steps, send, current } = c;
    if (steps.heldTopic !== undefined) {
      socket.unsubscribe(steps.heldTopic);
      this.subscribe(steps.heldTopic);
    }
    const opening = steps.opening ? socket.started?.bind(socket) : undefined;
    startFromLog(start, at, { opening, recover: steps.recover, send, current }).then((replayed) => {
      if (!replayed || !current()) return;
      this.release((t) => socket.subscribe(t), send, replayed);
      c.done();
    });
  }

  /** The connection ended while held: nothing more comes here. */
  drop(): Downlink[] {
    if (this.topic !== undefined) this.topics.remove(this.topic, this);
    const frames = this.frames;
    this.frames = [];
    return frames;
  }
}

const NOTHING: Replayed = new Map();

/**
 * A session's start from the log, while its connection holds it: the first positions (an HTTP
 * stream's opening), then the replay and the report, then the wait for live delivery to pass the
 * replay. `current`: false once the connection ended or another hold replaced this one.
 */
export async function startFromLog(
  start: LogStart,
  at: { uid: string; rid: string },
  steps: {
    opening?: (heads: Recover) => void;
    recover?: Recover;
    send: (f: Downlink) => void;
    current: () => boolean;
  },
): Promise<Replayed | undefined> {
  if (steps.opening) {
    const heads = await start.heads(at.uid, at.rid);
    if (!steps.current()) return undefined;
    steps.opening(heads);
  }
  if (!steps.recover) return NOTHING;
  const replay = await start.recover(at.uid, at.rid, steps.recover);
  if (!steps.current()) return undefined;
  for (const f of replay.frames) steps.send(f);
  steps.send(replay.report);
  await start.settle(at.uid, at.rid, replay.replayed);
  return steps.current() ? replay.replayed : undefined;
}
