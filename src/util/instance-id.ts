/** An instance's id: the `server` of its activity, presence and webhooks, and its broker topics' level. */
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";

/**
 * hostname + pid tell an operator where an instance runs; the random part keeps ids apart in one
 * process. The id is a topic level (comet/servers/<id>): a host name's dots would be level
 * separators on RabbitMQ, which maps topics onto AMQP routing keys.
 */
export function instanceId(): string {
  return `${hostname().replaceAll(".", "-")}-${process.pid}-${randomBytes(3).toString("hex")}`;
}
