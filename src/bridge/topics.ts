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
 * The longest routed topic, in UTF-8 bytes: an AMQP routing key's limit, which RabbitMQ's MQTT
 * plugin applies to topics. Mosquitto takes longer ones, but one rule for every broker keeps a
 * backend's choice of topic the same whichever broker it is pointed at.
 */
export const MAX_ROUTED_TOPIC_BYTES = 255;

/**
 * Characters MQTT brokers refuse in a topic (MQTT 3.1.1 §1.5.3): C0 and C1 controls, Unicode
 * noncharacters, and unpaired surrogates (which have no UTF-8 at all). Mosquitto disconnects a
 * client that subscribes to such a topic, so a hostile uid would cut its instance off the broker.
 */
const REFUSED_BY_BROKERS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 and the controls are what this module escapes or refuses
  /[\u0001-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]|[\ud83f\ud87f\ud8bf\ud8ff\ud93f\ud97f\ud9bf\ud9ff\uda3f\uda7f\udabf\udaff\udb3f\udb7f\udbbf\udbff][\udffe\udfff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

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
   * A user's topic; undefined when no broker could carry it (a control character, a noncharacter,
   * an unpaired surrogate, or longer than MAX_ROUTED_TOPIC_BYTES): such a user is reached through
   * the events topic, which every instance reads.
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

function routable(prefix: string, id: string): string | undefined {
  if (REFUSED_BY_BROKERS.test(id)) return undefined;
  const topic = prefix + escapeLevel(id);
  // A UTF-16 unit is at most 3 UTF-8 bytes: most topics are known to fit without counting.
  if (topic.length * 3 > MAX_ROUTED_TOPIC_BYTES && Buffer.byteLength(topic, "utf8") > MAX_ROUTED_TOPIC_BYTES) {
    return undefined;
  }
  return topic;
}
