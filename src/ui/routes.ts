/**
 * The demo page at / (ui.enabled; on in --dev), the client SDK at /comet-client.js, and
 * POST /ui/token, which mints a subscriber token for the page when the caller holds an admin token
 * and the server signs with an HS256 secret.
 */
import type { AdminAuth } from "../auth/admin.ts";
import { signSubscriberToken } from "../auth/mint.ts";
import type { Config } from "../config/schema.ts";
import { adminRefusal, errorResponse } from "../protocol/errors.ts";

export type UiHandler = (req: Request, path: string, client: () => string) => Response | Promise<Response> | undefined;

const MAX_TOKEN_BODY = 4096;

export async function createUi(config: Config, admin: AdminAuth): Promise<UiHandler> {
  const { CLIENT_JS, PAGE_HTML } = await import("./assets.ts");
  const page = PAGE_HTML.replace("__HEARTBEAT_MS__", String(config.heartbeat.interval));
  const html = { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache" };
  const js = { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-cache" };

  async function token(req: Request, client: () => string): Promise<Response> {
    if (req.method !== "POST") return errorResponse(405, "method_not_allowed", "use POST", { allow: "POST" });
    const verdict = admin.verdict(req.headers.get("authorization"), client);
    if (verdict !== "ok") return adminRefusal(verdict);
    const text = await req.text();
    if (text.length > MAX_TOKEN_BODY) return errorResponse(413, "body_too_large", "body too large");
    let uid: unknown;
    try {
      uid = (JSON.parse(text || "{}") as { uid?: unknown }).uid;
    } catch {
      return errorResponse(400, "bad_request", "body is not valid JSON");
    }
    if (typeof uid !== "string" || uid === "") return errorResponse(400, "bad_request", "uid is required");
    const jwt = await signSubscriberToken(config, { uid, ttlMs: 3_600_000 });
    if (jwt === undefined) {
      return errorResponse(
        404,
        "not_found",
        "this server does not sign tokens (no auth.jwt.hs256_secret): paste a JWT",
      );
    }
    return Response.json({ token: jwt });
  }

  return (req, path, client) => {
    if (path === "/" && (req.method === "GET" || req.method === "HEAD")) return new Response(page, { headers: html });
    if (path === "/comet-client.js" && (req.method === "GET" || req.method === "HEAD")) {
      return new Response(CLIENT_JS, { headers: js });
    }
    if (path === "/ui/token") return token(req, client);
    return undefined;
  };
}
