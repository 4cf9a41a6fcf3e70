/**
 * The demo page at / (ui.enabled; on in --dev), its script and stylesheet under /ui/, the client
 * SDK at /comet-client.js, the operators' console's shell at /console and its files under /ui/ (its
 * data endpoints are console.ts's), and POST /ui/token, which mints a subscriber token for the page
 * when the caller holds an admin token and the server signs with an HS256 secret.
 */
import type { AdminAuth } from "../auth/admin.ts";
import { signSubscriberToken } from "../auth/mint.ts";
import type { Config } from "../config/schema.ts";
import { BodyTooLarge, readBody } from "../util/body.ts";
import { adminRefusal, errorResponse } from "../protocol/errors.ts";

export type UiHandler = (req: Request, path: string, client: () => string) => Response | Promise<Response> | undefined;

const MAX_TOKEN_BODY = 4096;

/**
 * The page holds an admin token, so nothing but its own files may run in it or be reached from it
 * (an injected script could not send the token elsewhere), and no other site may frame it to
 * trick a click. Its script and styles are files for that reason: no 'unsafe-inline'.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

/** On every answer of the UI's, so that no browser reads one as another type than it says. */
export function secured(res: Response): Response {
  res.headers.set("content-security-policy", CONTENT_SECURITY_POLICY);
  res.headers.set("x-content-type-options", "nosniff");
  return res;
}

/** `config` is asked on each mint, so that a reloaded HS256 secret signs the page's next token. */
export async function createUi(config: () => Config, admin: AdminAuth): Promise<UiHandler> {
  const { CLIENT_JS, CONSOLE_FILES, PAGE_CSS, PAGE_HTML, PAGE_JS } = await import("./assets.ts");
  const page = PAGE_HTML.replace("__HEARTBEAT_MS__", String(config().heartbeat.interval));
  const asset = (body: string, type: string) => () =>
    new Response(body, { headers: { "content-type": `${type}; charset=utf-8`, "cache-control": "no-cache" } });
  const files: ReadonlyMap<string, () => Response> = new Map([
    ["/", asset(page, "text/html")],
    ["/ui/page.js", asset(PAGE_JS, "text/javascript")],
    ["/ui/page.css", asset(PAGE_CSS, "text/css")],
    ["/comet-client.js", asset(CLIENT_JS, "text/javascript")],
    // The console's shell and scripts: no data in them (that comes from the admin endpoints).
    ...CONSOLE_FILES.map(([path, body, type]) => [path, asset(body, type)] as const),
  ]);

  async function token(req: Request, client: () => string): Promise<Response> {
    if (req.method !== "POST") return errorResponse(405, "method_not_allowed", "use POST", { allow: "POST" });
    const verdict = admin.verdict(req.headers.get("authorization"), client);
    if (verdict !== "ok") return adminRefusal(verdict);
    let body: Uint8Array;
    try {
      body = await readBody(req, MAX_TOKEN_BODY);
    } catch (err) {
      if (err instanceof BodyTooLarge) {
        return errorResponse(413, "body_too_large", `body over ${MAX_TOKEN_BODY} bytes`);
      }
      return errorResponse(400, "bad_request", "could not read the request body");
    }
    let uid: unknown;
    try {
      const text = new TextDecoder("utf-8", { fatal: true }).decode(body);
      uid = (JSON.parse(text || "{}") as { uid?: unknown } | null)?.uid;
    } catch {
      return errorResponse(400, "bad_request", "body is not valid JSON");
    }
    if (typeof uid !== "string" || uid === "") return errorResponse(400, "bad_request", "uid is required");
    const jwt = await signSubscriberToken(config(), { uid, ttlMs: 3_600_000 });
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
    if (path === "/ui/token") return token(req, client).then(secured);
    const file = files.get(path);
    if (file && (req.method === "GET" || req.method === "HEAD")) return secured(file());
    return undefined;
  };
}
