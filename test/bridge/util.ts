/** Bridge test helpers: comet instances with a logger, an MQTT observer, /readyz and /metrics readers. */
import { connectAsync, type IClientOptions, type MqttClient } from "mqtt";
import { startTest, type TestServer } from "../helpers.ts";

export type Comet = TestServer;

/** A comet instance on port 0 (test secrets), its log lines kept when lines is given. */
export function startComet(yaml: string, lines?: string[]): Promise<Comet> {
  return startTest(yaml, {}, { lines });
}

/** Polls pred (sync or async) until it holds, or fails naming what it waited for. */
export async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

export interface ActivityMsg {
  type: string;
  uid: string;
  rid: string;
  time: string;
  server: string;
}

/** An MQTT client that records everything on the topics it subscribed to, in arrival order. */
export class Observer {
  readonly messages: Array<{ topic: string; text: string; qos: number }> = [];

  private constructor(readonly client: MqttClient) {
    // The tests kill brokers under their observers; that is not an error of the observer.
    client.on("error", () => {});
    client.on("message", (topic, payload, packet) =>
      this.messages.push({ topic, text: payload.toString("utf8"), qos: packet.qos }),
    );
  }

  static async connect(
    url: string,
    topics: string[],
    opts: IClientOptions = {},
    qos: 0 | 1 | 2 = 0,
  ): Promise<Observer> {
    const client = await connectAsync(url, { reconnectPeriod: 0, connectTimeout: 3000, ...opts });
    const o = new Observer(client);
    if (topics.length > 0) await client.subscribeAsync(topics, { qos });
    return o;
  }

  /** Activity received, optionally only that of one uid. */
  activity(uid?: string, server?: string): Array<ActivityMsg & { qos: number }> {
    return this.messages
      .filter((m) => m.topic === "comet/user-activity")
      .map((m) => ({ ...(JSON.parse(m.text) as ActivityMsg), qos: m.qos }))
      .filter((a) => (uid === undefined || a.uid === uid) && (server === undefined || a.server === server));
  }

  /** The types of a uid's activity, with the room when there is one: "ENTER_ROOM lobby". */
  story(uid: string, server?: string): string[] {
    return this.activity(uid, server).map((a) => (a.rid ? `${a.type} ${a.rid}` : a.type));
  }

  async until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
    try {
      await waitFor(pred, what, ms);
    } catch (err) {
      throw new Error(`${(err as Error).message}; received: ${JSON.stringify(this.messages.map((m) => m.text))}`);
    }
  }

  async publish(topic: string, payload: string | Buffer): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 0 });
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }
}

/**
 * Another instance's ONLINE for uid, made up, a minute in the future: believed, it closes the uid's
 * session here (4409) as a newer login elsewhere would.
 */
export function forgedOnline(uid: string): string {
  const time = (BigInt(Date.now() + 60_000) * 1_000_000n).toString();
  return JSON.stringify({ type: "ONLINE", uid, rid: "", time, server: "forger" });
}

/** Resolves when the broker has closed the client's connection; fails after ms. */
export function closedBy(client: MqttClient, ms = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`the broker did not disconnect the client within ${ms}ms`)), ms);
    client.once("close", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

export async function readyz(s: Comet): Promise<{ status: number; body: { status: string; reason?: string } }> {
  const res = await fetch(`${s.url}/readyz`);
  return { status: res.status, body: (await res.json()) as { status: string; reason?: string } };
}

export async function waitReadyz(s: Comet, status: 200 | 503, ms = 8000): Promise<{ status: string; reason?: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await readyz(s);
    if (r.status === status) return r.body;
    if (Date.now() > deadline)
      throw new Error(`/readyz stayed ${r.status} (${JSON.stringify(r.body)}), wanted ${status}`);
    await Bun.sleep(20);
  }
}

/** One sample of /metrics, 0 when the series is absent. */
export async function metric(s: Comet, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const l = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  const series = l ? `${name}{${l}}` : name;
  const line = text.split("\n").find((x) => x.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}
