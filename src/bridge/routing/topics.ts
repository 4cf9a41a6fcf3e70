/**
 * The routed topics of mqtt.routing (docs/protocol.md, "Routed events"): `<events>/u/<uid>`,
 * `<events>/r/<rid>` and `<events>/w`. A uid or rid becomes exactly one topic level: `%`, `/`,
 * `+`, `#` and U+0000 are escaped, so that no uid can name another level, a wildcard or an
 * invalid topic; everything else is written as it is. Pure functions, no I/O.
 */

const ESCAPES: Readonly<Record<string, string>> = { "%": "%25", "/": "%2F", "+": "%2B", "#": "%23", "\u0000": "%00" };
const UNESCAPES: Readonly<Record<string, string>> = { "%25": "%", "%2F": "/", "%2B": "+", "%23": "#", "%00": "\u0000" };
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 and the controls are what this module escapes or refuses
const ESCAPED = /[%/+#\u0000]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 and the controls are what this module escapes or refuses
const HAS_ESCAPED = /[%/+#\u0000]/;
// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 and the controls are what this module escapes or refuses
const NOT_A_LEVEL = /[/+#\u0000]/;

/** A uid or rid as one topic level. */
export function escapeLevel(s: string): string {
  return HAS_ESCAPED.test(s) ? s.replace(ESCAPED, (c) => ESCAPES[c] as string) : s;
}

/** The uid or rid of a level escapeLevel wrote; undefined for a level it cannot have written. */
export function unescapeLevel(level: string): string | undefined {
  if (NOT_A_LEVEL.test(level)) return undefined;
  let bad = false;
  const s = level.replace(/%(..)?/g, (m) => {
    const c = UNESCAPES[m];
    if (c === undefined) bad = true;
    return c ?? m;
  });
  return bad ? undefined : s;
}

/**
 * What no routed topic may hold. Characters MQTT brokers refuse in a topic (MQTT 3.1.1 §1.5.3): C0
 * and C1 controls, Unicode noncharacters, and unpaired surrogates (which have no UTF-8 at all);
 * Mosquitto disconnects a client that subscribes to such a topic, so a hostile uid would cut its
 * instance off the broker. And `*`, which the escaping leaves as it is but brokers that map topics
 * onto AMQP routing keys (RabbitMQ) read as a wildcard: subscribed, a uid `*` would bring every
 * user's Events to its instance.
 */
const UNROUTABLE =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 and the controls are what this module escapes or refuses
  /[*\u0001-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The routed topics under one events topic. */
export class RoutedTopics {
  readonly world: string;
  private readonly userPrefix: string;
  private readonly roomPrefix: string;

  constructor(readonly eventsTopic: string) {
    this.world = `${eventsTopic}/w`;
    this.userPrefix = `${eventsTopic}/u/`;
    this.roomPrefix = `${eventsTopic}/r/`;
  }

  /**
   * A user's topic; undefined when the uid holds what no routed topic may (UNROUTABLE): such a
   * user is reached through the events topic, which every instance reads.
   */
  user(uid: string): string | undefined {
    return routable(this.userPrefix, uid);
  }

  /** A room's topic, by the rules of user(); the world (rid "") has its own, `world`. */
  room(rid: string): string | undefined {
    return routable(this.roomPrefix, rid);
  }

  /** Where an Event for this delivery is published: its routed topic, or the events topic. */
  of(d: { kind: "publish"; uid: string } | { kind: "broadcast"; rid: string }): string {
    if (d.kind === "publish") return this.user(d.uid) ?? this.eventsTopic;
    return d.rid === "" ? this.world : (this.room(d.rid) ?? this.eventsTopic);
  }
}

/** An id as one topic level, or undefined when it holds what no topic may (UNROUTABLE). */
export function routableLevel(id: string): string | undefined {
  return UNROUTABLE.test(id) ? undefined : escapeLevel(id);
}

function routable(prefix: string, id: string): string | undefined {
  return UNROUTABLE.test(id) ? undefined : prefix + escapeLevel(id);
}
