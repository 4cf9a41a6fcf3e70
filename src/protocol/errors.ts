/** HTTP API errors in go-micro's JSON shape: {"id":"comet.<reason>","code":400,"detail":"...","status":"Bad Request"}. */
const STATUS_TEXT: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  413: "Request Entity Too Large",
  426: "Upgrade Required",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

export interface ApiError {
  id: string;
  code: number;
  detail: string;
  status: string;
}

export function apiError(code: number, reason: string, detail: string): ApiError {
  return { id: `comet.${reason}`, code, detail, status: STATUS_TEXT[code] ?? "Error" };
}

export function errorResponse(code: number, reason: string, detail: string, headers?: HeadersInit): Response {
  return new Response(JSON.stringify(apiError(code, reason, detail)), {
    status: code,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** A refused admin token: 401, or 429 when the client's address is past its failures for this second. */
export function adminRefusal(verdict: "unauthorized" | "limited"): Response {
  return verdict === "limited"
    ? errorResponse(
        429,
        "too_many_auth_failures",
        "too many failed admin authentications from this address: retry in a second",
        { "retry-after": "1" },
      )
    : errorResponse(401, "unauthorized", "missing or wrong admin bearer token", {
        "www-authenticate": 'Bearer realm="comet"',
      });
}

/** The one answer to a request that failed inside the server: no detail that could leak internals. */
export function internalError(): Response {
  return errorResponse(500, "internal", "internal error");
}
