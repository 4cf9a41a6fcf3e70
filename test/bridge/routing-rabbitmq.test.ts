/**
 * The routed cluster's tests (routing-suite.ts) on a distributed broker: RabbitMQ's MQTT plugin,
 * a private node started once for this file (rabbitmq.ts; ~20 s to boot). RabbitMQ maps topics
 * onto AMQP routing keys ("/" becomes ".", "+" becomes "*"), which is what the escaping and the
 * unroutable ids must hold against.
 */
import { routingSuite } from "./routing-suite.ts";
import { TestRabbit } from "./rabbitmq.ts";

routingSuite(
  "rabbitmq",
  async () => {
    const rabbit = await TestRabbit.start();
    return { url: rabbit.url, stop: () => rabbit.stop() };
  },
  // A binding per subscription: 10,000 take RabbitMQ 3.10 some 15 s on a busy machine.
  { stormMs: 60_000 },
);
