/**
 * connect: N clients connect and authenticate (AUTH with a fresh HS256 token, joining one room) to a
 * fresh server. Connects per second until the server holds N sessions; then, once settled, the
 * server's RSS per connection over its idle RSS.
 */
import { type Ctx, Gens, gensFor, Meter, nowUs, type Result, round, sleep, waitFor } from "../lib/harness.ts";
import { ROOM, perSecond, startTarget } from "./common.ts";

export async function connectScenario(ctx: Ctx, kind: "comet" | "floor", n: number): Promise<Result> {
  const target = await startTarget(ctx, kind);
  let gens: Gens | undefined;
  try {
    gens = await Gens.start(ctx, gensFor(ctx, n));
    await sleep(1000);
    const rss0 = target.rssKiB();
    const meter = new Meter(target, [gens]);
    const cr = await gens.subscribe(target, n, ROOM, ctx.concurrency);
    if (cr.upgraded < n)
      throw new Error(`connect: only ${cr.upgraded} of ${n} upgraded: ${JSON.stringify(cr.statuses)}`);
    await waitFor(`${n} subscribed`, 120_000, async () => (await target.subscribed()) >= n, 5);
    const t1 = nowUs();
    const secs = (t1 - cr.t0_us) / 1e6;
    const cpu = meter.read(secs);
    const rssPeak = target.rssKiB();
    await sleep(2000);
    const rss1 = target.rssKiB();
    return {
      scenario: "connect",
      target: kind,
      params: { clients: n, generators: gens.list.length, handshakes_in_flight: ctx.concurrency * gens.list.length },
      metrics: {
        connects_per_s: perSecond(n, cr.t0_us, t1),
        time_s: round(secs, 3),
        server_cpu_us_per_connect: round((cpu.server_cpu_s * 1e6) / n, 1),
        server_cpu_pct: cpu.server_cpu_pct,
        gen_cpu_pct: cpu.gen_cpu_pct,
        cpu0_other_pct: cpu.cpu0_other_pct,
        rss_idle_mib: round(rss0 / 1024, 1),
        rss_peak_mib: round(rssPeak / 1024, 1),
        rss_mib: round(rss1 / 1024, 1),
        rss_per_conn_kib: round((rss1 - rss0) / n, 2),
        retries: cr.retries,
      },
    };
  } finally {
    await gens?.stop();
    await target.stop();
  }
}
