/**
 * The HTTP API of comet-service.md: POST /comet/Comet/{Publish,Broadcast,DumpSession}.
 * When several errors apply, the first of PROTOCOL.md's order answers: 404, 405, 401, 413 (body),
 * 400, 413 (evt).
 */
import type { AdminAuth } from "../auth/admin.ts";
import type { Config } from "../config/schema.ts";
import type { Hub } from "../hub/hub.ts";
import { errorResponse } from "../protocol/errors.ts";
import { checkBroadcast, checkPublish, type RequestProblem } from "../protocol/requests.ts";
import { BodyTooLarge, readBody } from "./body.ts";
import type { Metrics } from "./metrics.ts";

const METHODS = new Set(["Publish", "Broadcast", "DumpSession"]);
const PREFIX = "/comet/Comet/";
const utf8 = new TextDecoder("utf-8", { fatal: true });
const JSON_HEADERS = new Headers({ "content-type": "application/json" });
const EMPTY_OK = () => new Response("{}", { headers: JSON_HEADERS });

export function isApiPath(path: string): boolean {
  return path.startsWith(PREFIX) && METHODS.has(path.slice(PREFIX.length));
}

class BadRequest extends Error {}

function field(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string")
    throw new BadRequest(`${name} must be a string, got ${Array.isArray(v) ? "array" : typeof v}`);
  return v;
}

export function createApi(deps: { config: Config; hub: Hub; admin: AdminAuth; metrics: Metrics }) {
  const { config, hub, admin, metrics } = deps;
  const maxEvt = config.limits.max_evt_bytes;

  async function handle(req: Request, method: string): Promise<Response> {
    if (req.method !== "POST") {
      return errorResponse(405, "method_not_allowed", `${req.method} not allowed: use POST`, { allow: "POST" });
    }
    if (!admin.check(req.headers.get("authorization"))) {
      return errorResponse(401, "unauthorized", "missing or wrong admin bearer token", {
        "www-authenticate": 'Bearer realm="comet"',
      });
    }
    let raw: Uint8Array;
    try {
      raw = await readBody(req, config.limits.max_body_bytes);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        return errorResponse(
          413,
          "body_too_large",
          `body over limits.max_body_bytes (${config.limits.max_body_bytes} bytes)`,
        );
      }
      return errorResponse(400, "bad_request", "could not read the request body");
    }
    let body: Record<string, unknown> = {};
    try {
      const text = utf8.decode(raw);
      if (text.trim() !== "") {
        const parsed: unknown = JSON.parse(text);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
          return errorResponse(400, "bad_request", "body must be a JSON object");
        }
        body = parsed as Record<string, unknown>;
      }
    } catch {
      return errorResponse(400, "bad_request", "body is not valid JSON");
    }
    try {
      if (method === "DumpSession") {
        // An opt-in addition: {"transport": true} adds each session's transport (comet dump shows it).
        const t = body.transport;
        if (t !== undefined && t !== null && typeof t !== "boolean") {
          return errorResponse(400, "bad_request", `transport must be a boolean, got ${typeof t}`);
        }
        return Response.json(hub.dump(t === true));
      }
      const evt = field(body, "evt") ?? "";
      if (method === "Publish") {
        const uid = field(body, "uid");
        const problem = checkPublish(uid, evt, maxEvt);
        if (problem) return problemResponse(problem);
        hub.publish(uid as string, evt);
        return EMPTY_OK();
      }
      const rid = field(body, "rid") ?? "";
      const problem = checkBroadcast(evt, maxEvt);
      if (problem) return problemResponse(problem);
      hub.broadcast(rid, evt);
      return EMPTY_OK();
    } catch (err) {
      if (err instanceof BadRequest) return errorResponse(400, "bad_request", err.message);
      throw err;
    }
  }

  /** comet_api_requests_total by method and status; each label set rendered once. */
  // Per (method, status): the counter and histogram series, their label keys rendered once.
  const series = new Map<string, { inc(): void; observe(seconds: number): void }>();
  const record = (method: string, status: number, seconds: number): void => {
    const k = `${method} ${status}`;
    let s = series.get(k);
    if (!s) {
      const labels = { method, status: String(status) };
      const counter = metrics.apiRequests.with(labels);
      const histogram = metrics.apiLatency.with(labels);
      s = { inc: () => counter.inc(), observe: (v) => histogram.observe(v) };
      series.set(k, s);
    }
    s.inc();
    s.observe(seconds);
  };

  return {
    /** Answers an API path (see isApiPath). */
    async serve(req: Request, path: string): Promise<Response> {
      const method = path.slice(PREFIX.length);
      const started = performance.now();
      const res = await handle(req, method);
      record(method, res.status, (performance.now() - started) / 1000);
      return res;
    },
  };
}

const problemResponse = (p: RequestProblem): Response =>
  errorResponse(p.kind === "evt_too_large" ? 413 : 400, p.kind, p.detail);
