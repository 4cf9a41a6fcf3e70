/**
 * Does gRPC slow the WebSocket fast path? World broadcasts to N WebSocket sessions (held by a
 * child process), with gRPC off, on with no gRPC session, and on with G gRPC sessions (another
 * child). Reports the server's synchronous cost per broadcast and the time until every WebSocket
 * client has all M messages. Not a test: run `npx bun test/grpc/fanout-bench.ts [N] [M] [G]`.
 */
import { credentials, type GrpcObject, loadPackageDefinition, type ServiceClientConstructor } from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { startServer } from "../../src/server.ts";
import { testConfig, token, waitFor } from "../helpers.ts";

const now = () => performance.timeOrigin + performance.now();
const [role, ...args] = process.argv.slice(2);

if (role === "ws") {
  // A child holding n WebSocket sessions; prints, per client, ms from the first broadcast to the m-th message.
  const [url, n, m] = [args[0] as string, Number(args[1]), Number(args[2])];
  const done: number[] = [];
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(url);
    let got = 0;
    let t0 = 0;
    ws.onopen = async () => ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token(`w${i}`) } }));
    ws.onmessage = (e) => {
      const f = JSON.parse(String(e.data));
      if (f.t !== "PUSH") return;
      if (got === 0) t0 = JSON.parse(f.push.evt).t0;
      if (++got === m) {
        done.push(now() - t0);
        if (done.length === n) {
          process.stdout.write(`${JSON.stringify(done)}\n`);
          process.exit(0);
        }
      }
    };
  }
} else if (role === "grpc") {
  const [port, g] = [args[0] as string, Number(args[1])];
  const def = loadSync(new URL("../../proto/comet.proto", import.meta.url).pathname, { keepCase: true, enums: String });
  const Comet = (loadPackageDefinition(def).comet as GrpcObject).Comet as ServiceClientConstructor;
  const client = new Comet(`127.0.0.1:${port}`, credentials.createInsecure()) as unknown as {
    Subscribe(): { write(m: object): void; on(e: string, f: () => void): void };
  };
  for (let i = 0; i < g; i++) {
    const call = client.Subscribe();
    call.on("data", () => {});
    call.on("error", () => {});
    call.write({ t: "AUTH", auth: { token: await token(`g${i}`) } });
  }
} else {
  const n = Number(role ?? 2000);
  const m = Number(args[0] ?? 200);
  const g = Number(args[1] ?? 200);
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] as number;
  const modes = ["grpc off", "grpc on, no gRPC session", `grpc on, ${g} gRPC sessions`];
  for (const mode of [...modes, ...modes]) {
    const env: Record<string, string> = mode === "grpc off" ? {} : { COMET_GRPC_LISTEN: "127.0.0.1:0" };
    const server = await startServer(testConfig("limits: {uplink_rate: 0}", env));
    const ws = `${server.url.replace("http", "ws")}/comet/Comet/Subscribe`;
    const child = Bun.spawn([process.execPath, import.meta.path, "ws", ws, String(n), String(m)], { stdout: "pipe" });
    const others = mode.endsWith("sessions")
      ? Bun.spawn([process.execPath, import.meta.path, "grpc", String(server.grpcPort), String(g)])
      : undefined;
    await waitFor(() => server.hub.sessions.size === n + (others ? g : 0), "sessions", 60_000);
    const sync: number[] = [];
    const t0 = now();
    for (let i = 0; i < m; i++) {
      const evt = JSON.stringify({ i, t0, pad: "x".repeat(200) });
      const s = performance.now();
      server.hub.broadcast("", evt);
      sync.push(performance.now() - s);
      if (i % 20 === 19) await Bun.sleep(0); // let the loop flush, as between API requests
    }
    const times = JSON.parse(await new Response(child.stdout).text()) as number[];
    others?.kill();
    const mean = sync.reduce((a, b) => a + b, 0) / sync.length;
    console.log(
      `${mode.padEnd(28)} broadcast (sync) mean ${mean.toFixed(3)} ms p99 ${pct(sync, 0.99).toFixed(3)} ms | all ${m} at ${n} WS clients: p50 ${pct(times, 0.5).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`,
    );
    await server.stop();
  }
  process.exit(0);
}
