/**
 * Real gRPC clients over TCP: @grpc/grpc-js with the stub loaded from proto/comet.proto on disk,
 * as any client of the original project would load it.
 */
import {
  type Client as GrpcBaseClient,
  type ClientDuplexStream,
  credentials,
  type GrpcObject,
  loadPackageDefinition,
  Metadata,
  type ServiceClientConstructor,
  type ServiceError,
  type StatusObject,
} from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";
import { ADMIN, startTest, token, waitFor } from "../helpers.ts";
import { Arrivals } from "../support/arrivals.ts";

const PROTO = new URL("../../proto/comet.proto", import.meta.url).pathname;
const definition = loadSync(PROTO, { keepCase: true, enums: String, longs: String, defaults: true });
const Comet = (loadPackageDefinition(definition).comet as GrpcObject).Comet as ServiceClientConstructor;

export type TestServer = Awaited<ReturnType<typeof startTest>> & { grpcPort: number };

/** A real server with gRPC on an ephemeral port too. */
export async function startGrpcTest(yaml = "", env: Record<string, string> = {}): Promise<TestServer> {
  const s = await startTest(yaml, { COMET_GRPC_LISTEN: "127.0.0.1:0", ...env });
  if (s.grpcPort === undefined) throw new Error("gRPC did not start");
  return s as TestServer;
}

export interface Downlink {
  t: "HB" | "AUTH" | "JOIN" | "PUSH";
  hb: object | null;
  push: { evt: string } | null;
}

export interface Uplink {
  t?: string | number;
  hb?: object;
  auth?: { token: string };
  join?: { rid: string };
}

type Unary = (req: object, md: Metadata, cb: (err: ServiceError | null, res?: unknown) => void) => void;
export type CometClient = GrpcBaseClient & {
  Subscribe(md?: Metadata): ClientDuplexStream<Uplink, Downlink>;
  Publish: Unary;
  Broadcast: Unary;
  DumpSession: Unary;
  Batch: Unary;
  Presence: Unary;
};

export function grpcClient(server: TestServer, options: Record<string, unknown> = {}): CometClient {
  return new Comet(`127.0.0.1:${server.grpcPort}`, credentials.createInsecure(), options) as unknown as CometClient;
}

export interface Ended {
  code: number;
  details: string;
  /** The close code of docs/protocol.md, from trailing metadata comet-code. */
  cometCode: number | undefined;
}

/** One Subscribe stream that records every downlink and how it ended. */
export class Stream {
  readonly call: ClientDuplexStream<Uplink, Downlink>;
  readonly downlinks: Downlink[] = [];
  readonly ended: Promise<Ended>;
  endInfo: Ended | undefined;
  private readonly arrivals = new Arrivals();

  /** raw: uplinks are written as given bytes, as a broken or hostile client could. */
  constructor(client: CometClient, opts: { md?: Metadata; raw?: boolean } = {}) {
    this.call = opts.raw
      ? (client.makeBidiStreamRequest<Buffer, Downlink>(
          "/comet.Comet/Subscribe",
          (b) => b,
          (b) => b as unknown as Downlink,
          opts.md ?? new Metadata(),
        ) as unknown as ClientDuplexStream<Uplink, Downlink>)
      : client.Subscribe(opts.md);
    this.call.on("data", (d: Downlink) => {
      this.downlinks.push(d);
      this.arrivals.wake();
    });
    // The status event carries the trailers; "error" repeats it for non-OK ends.
    this.call.on("error", () => {});
    this.ended = new Promise((resolve) => {
      this.call.on("status", (s: StatusObject) => {
        const c = s.metadata.get("comet-code")[0];
        this.endInfo = { code: s.code, details: s.details, cometCode: c === undefined ? undefined : Number(c) };
        resolve(this.endInfo);
        this.arrivals.wake();
      });
    });
  }

  send(uplink: Uplink): void {
    this.call.write(uplink);
  }

  /** For a raw stream: these bytes as one Uplink message. */
  raw(bytes: number[]): void {
    this.call.write(Buffer.from(bytes) as unknown as Uplink);
  }

  pushes(): string[] {
    return this.downlinks.filter((d) => d.t === "PUSH").map((d) => d.push?.evt ?? "");
  }

  async until(pred: () => boolean, ms = 3000, what = "condition"): Promise<void> {
    await this.arrivals.until(pred, ms, what, () => `downlinks: ${JSON.stringify(this.downlinks)}`);
  }

  async waitPushes(n: number, ms = 3000): Promise<string[]> {
    await this.until(() => this.pushes().length >= n, ms, `${n} pushes`);
    return this.pushes();
  }

  async waitEnd(ms = 3000): Promise<Ended> {
    return Promise.race([
      this.ended,
      new Promise<Ended>((_, rej) =>
        setTimeout(() => rej(new Error(`stream not ended within ${ms}ms; got ${JSON.stringify(this.downlinks)}`)), ms),
      ),
    ]);
  }
}

/** Opens a Subscribe stream and authenticates it; resolves once the server holds the session. */
export async function subscribe(
  server: TestServer,
  client: CometClient,
  uid: string,
  opts: { rid?: string; token?: string } = {},
): Promise<Stream> {
  const s = new Stream(client);
  const up: Uplink = { t: "AUTH", auth: { token: opts.token ?? (await token(uid)) } };
  if (opts.rid !== undefined) up.join = { rid: opts.rid };
  s.send(up);
  await waitFor(() => {
    const session = server.hub.sessions.get(uid);
    return session !== undefined && (opts.rid === undefined || session.rid === opts.rid);
  }, `session ${uid}`);
  return s;
}

export function adminMetadata(tok: string | null = ADMIN): Metadata {
  const md = new Metadata();
  if (tok !== null) md.set("authorization", `Bearer ${tok}`);
  return md;
}

/** A unary call; resolves with the error or the response, never rejects. */
export function call(
  client: CometClient,
  method: "Publish" | "Broadcast" | "DumpSession" | "Batch" | "Presence",
  req: object,
  tok: string | null = ADMIN,
): Promise<{ err: ServiceError | null; res: unknown }> {
  return new Promise((resolve) => {
    client[method](req, adminMetadata(tok), (err, res) => resolve({ err, res }));
  });
}
