/**
 * Who may do what on the embedded broker. Two kinds of client get in: comet instances, which
 * publish and read everything, and backends, which publish Events and read activity and presence. A backend
 * may not publish activity: the cluster rule believes an ONLINE it reads and closes that user's
 * session, so whoever can publish activity can sign anyone out. Nor may it read the events topic,
 * which carries every other backend's pushes.
 */
import { hash, timingSafeEqual } from "node:crypto";
import type { AedesOptions, AuthenticateError, Client } from "aedes";
import type { Account } from "../../config/schema.ts";

export type Role = "instance" | "backend";

export interface AccessRules {
  /** The instances' account: mqtt.username / password, or one made up for the bridge alone. */
  instance: Account;
  publishers: readonly Account[];
  /** Anonymous clients are let in as backends. */
  anonymous: boolean;
  eventsTopic: string;
  activityTopic: string;
  presenceTopic: string;
}

const NOT_AUTHORIZED = 5;

/** Both halves hashed: every comparison is the same length, so its time tells nothing of either. */
const fingerprint = (username: string, password: Buffer | string): Buffer =>
  Buffer.concat([
    hash("sha256", username, "buffer") as unknown as Buffer,
    hash("sha256", password, "buffer") as unknown as Buffer,
  ]);

/** aedes' authenticate, authorizePublish and authorizeSubscribe for these rules. */
export function accessHooks(
  rules: AccessRules,
): Required<Pick<AedesOptions, "authenticate" | "authorizePublish" | "authorizeSubscribe">> {
  const accounts: Array<[Buffer, Role]> = [
    [fingerprint(rules.instance.username, rules.instance.password), "instance"],
    ...rules.publishers.map((p): [Buffer, Role] => [fingerprint(p.username, p.password), "backend"]),
  ];
  const roles = new WeakMap<Client, Role>();
  const events = `${rules.eventsTopic}/`;

  const roleOf = (username: string | undefined, password: Buffer | undefined): Role | undefined => {
    if (username === undefined) return rules.anonymous && password === undefined ? "backend" : undefined;
    const given = fingerprint(username, password ?? "");
    let role: Role | undefined;
    // No early exit: the time taken does not tell which account, if any, matched.
    for (const [want, r] of accounts) if (timingSafeEqual(want, given)) role ??= r;
    return role;
  };

  return {
    authenticate(client, username, password, done) {
      const role = roleOf(username, password);
      if (role) {
        roles.set(client, role);
        done(null, true);
        return;
      }
      const err = new Error("not authorized") as AuthenticateError;
      err.returnCode = NOT_AUTHORIZED as AuthenticateError["returnCode"];
      done(err, null);
    },

    // An error disconnects the client (MQTT 3.1.1 has no refusal of a PUBLISH); a will is dropped.
    authorizePublish(client, packet, done) {
      const role = client ? roles.get(client) : undefined;
      const topic = packet.topic;
      if (role === "instance" && !topic.startsWith("$")) {
        done(null);
        return;
      }
      if (role === "backend" && (topic === rules.eventsTopic || topic.startsWith(events))) {
        // An Event is sent once: kept, it would be pushed again to every instance that subscribes
        // after it, and a backend could fill the broker's memory with one per topic.
        packet.retain = false;
        done(null);
        return;
      }
      done(new Error(`not authorized to publish to ${JSON.stringify(topic)}`));
    },

    // A refused subscription is answered with the failure code (0x80); the client stays connected.
    authorizeSubscribe(client, sub, done) {
      const role = roles.get(client);
      const readable = sub.topic === rules.activityTopic || sub.topic === rules.presenceTopic;
      if (role === "instance" || (role === "backend" && readable)) done(null, sub);
      else done(null, null);
    },
  };
}
