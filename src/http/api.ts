/**
 * The HTTP API of the Comet service: POST /comet/Comet/{Publish,Broadcast,DumpSession}, Batch, Presence, and the
 * operators' Disconnect and Revocations. The body
 * decodes into a command by the rules every way in shares (protocol/commands.ts); this file maps
 * the outcome onto HTTP. When several errors apply, the first of this order answers: 404, 405,
 * 401 (or 429 past the failures allowed to the address), 413 (body), 400, 413 (evt).
 */
import type { AdminAuth } from "../auth/admin.ts";
import type { Config } from "../config/schema.ts";
import type { Broker } from "../broker/broker.ts";
import { DELIVERED, execute, type PresenceSource } from "../broker/execute.ts";
import type { RevocationStore } from "../auth/revocations.ts";
import { HISTORY_UNAVAILABLE, HistoryUnavailable } from "../broker/history-log.ts";
import {
  type CommandError,
  commandLimits,
  parseJsonObject,
  requestTooLarge,
  STATUS_OF_ERROR,
} from "../protocol/commands.ts";
import { type CommandKind, readRequest } from "../protocol/request.ts";
import { adminRefusal, errorResponse } from "../protocol/errors.ts";
import { BodyTooLarge, readBody } from "../util/body.ts";
import type { ApiMetrics } from "../metrics/api.ts";

const PREFIX = "/comet/Comet/";
/** Each API path: its method (the metrics' label) and its command. One lookup per request. */
const METHODS: ReadonlyMap<string, { name: string; kind: CommandKind }> = new Map(
  (
    [
      ["Publish", "publish"],
      ["Broadcast", "broadcast"],
      ["DumpSession", "dump"],
      ["Batch", "batch"],
      ["Presence", "presence"],
      ["Disconnect", "disconnect"],
      ["Revocations", "revocations"],
    ] as const
  ).map(([name, kind]) => [PREFIX + name, { name, kind }]),
);
const JSON_HEADERS = new Headers({ "content-type": "application/json" });

export function isApiPath(path: string): boolean {
  return METHODS.has(path);
}

const refusal = (e: CommandError): Response => errorResponse(STATUS_OF_ERROR[e.code], e.code, e.detail);

export function createApi(deps: {
  config: Config;
  /** Where publications go: this instance, or with mqtt.forward_api the whole cluster. */
  broker: Broker;
  admin: AdminAuth;
  metrics: ApiMetrics;
  /** Answers Presence; without it, no one is online. */
  presence?: PresenceSource;
  /** Where a Disconnect's revoke is kept, and what Revocations lists. */
  revocations?: RevocationStore;
}) {
  const { config, broker, admin, metrics } = deps;
  const sources = { presence: deps.presence, revocations: deps.revocations };
  const limits = commandLimits(config.limits);

  async function handle(req: Request, kind: CommandKind, client: () => string): Promise<Response> {
    if (req.method !== "POST") {
      return errorResponse(405, "method_not_allowed", `${req.method} not allowed: use POST`, { allow: "POST" });
    }
    const verdict = admin.verdict(req.headers.get("authorization"), client);
    if (verdict !== "ok") return adminRefusal(verdict);
    let raw: Uint8Array;
    try {
      raw = await readBody(req, limits.maxBodyBytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) return refusal(requestTooLarge("body", limits));
      return errorResponse(400, "bad_request", "could not read the request body");
    }
    const body = parseJsonObject(raw, "body", true);
    if (!body.ok) return refusal(body.error);
    const read = readRequest(kind, body.value, limits);
    if (!read.ok) return refusal(read.error);
    let reply: Awaited<ReturnType<typeof execute>>;
    try {
      const out = execute(broker, read.command, sources);
      // A delivery on this instance answers at once: it waits for no turn of the microtask queue.
      reply = out instanceof Promise ? await out : out;
    } catch (err) {
      // The shared log could not number it (history.store: redis): nothing was delivered; retry.
      if (err instanceof HistoryUnavailable) return errorResponse(503, "history_store_unavailable", HISTORY_UNAVAILABLE);
      throw err;
    }
    return new Response(reply === DELIVERED ? "{}" : JSON.stringify(reply), { headers: JSON_HEADERS });
  }

  // Per method, then per status: the counter and histogram series, their label keys rendered once.
  type Series = { inc(): void; observe(seconds: number): void };
  const series = new Map<string, Map<number, Series>>();
  const record = (method: string, status: number, seconds: number): void => {
    let byStatus = series.get(method);
    if (!byStatus) {
      byStatus = new Map();
      series.set(method, byStatus);
    }
    let s = byStatus.get(status);
    if (!s) {
      const labels = { method, status: String(status) };
      const counter = metrics.apiRequests.with(labels);
      const histogram = metrics.apiLatency.with(labels);
      s = { inc: () => counter.inc(), observe: (v) => histogram.observe(v) };
      byStatus.set(status, s);
    }
    s.inc();
    s.observe(seconds);
  };

  return {
    /** Answers an API path (see isApiPath). */
    async serve(req: Request, path: string, client: () => string): Promise<Response> {
      const method = METHODS.get(path) as { name: string; kind: CommandKind };
      const started = performance.now();
      const res = await handle(req, method.kind, client);
      record(method.name, res.status, (performance.now() - started) / 1000);
      return res;
    },
  };
}
