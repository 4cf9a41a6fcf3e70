/**
 * Run by redis-log.test.ts under Deno: one instance of the shared log on Deno, appending to and
 * reading a stream that an instance on Bun shares. Prints one JSON line of what it saw.
 * Run: deno run -A test/broker/deno-probe.ts '{"url":"redis://127.0.0.1:6379","stream":"r:x"}'
 */
import { RedisLog } from "../../src/shared-log/redis-log.ts";
import { silentLogger } from "../../src/log.ts";

const { url, stream } = JSON.parse(process.argv[2] ?? "{}") as { url: string; stream: string };
const log = new RedisLog({ urls: [url], prefix: "comet", size: 32, ttlMs: 60_000, log: silentLogger });
const ready = await log.ready(5000);
const appended = [await log.append(stream, "deno 1"), ...(await log.appendMany([{ stream, evt: "deno 2" }]))];
const since = await log.since(stream, { epoch: appended[0]?.epoch ?? "", seq: 0 });
const top = await log.top(stream);
await log.close();
console.log(JSON.stringify({ runtime: "Deno" in globalThis ? "deno" : "other", ready, appended, since, top }));
