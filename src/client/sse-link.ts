/**
 * The client's Server-Sent Events link, for networks that break WebSocket: one GET with
 * `Accept: text/event-stream` on the subscribe URL (over http(s)), read with fetch rather than
 * EventSource so that the token goes in a header and the recover in Last-Event-ID, on browsers,
 * Bun and Deno alike. Downlink only: the room is in the query, fixed for the stream's life.
 */

export interface SseHandlers {
  /** The server answered 200: the session is live. */
  open(): void;
  /** Any bytes came (comments too): the link is alive. */
  alive(): void;
  /** The stream's position moved (an event's id: the reader's place in its three streams). */
  id(id: string): void;
  /**
   * An event's data: a frame's JSON (`message`), a failed recovery's report (`gap`), or the
   * server's close code and reason before it ends the stream (`close`).
   */
  event(type: string, data: string): void;
  /** Refused before the stream started: the HTTP status and the error's detail. */
  refused(status: number, detail: string): void;
  /** The stream ended or could not be opened (never after abort). */
  ended(reason: string): void;
}

/** ws(s)://host/path → http(s)://host/path?rid=… (the subscribe path also serves SSE by Accept). */
export function sseUrl(wsUrl: string, rid: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === "wss:" ? "https:" : "http:";
  if (rid !== "") u.searchParams.set("rid", rid);
  return u.toString();
}

/** Opens the stream; the returned function aborts it (no handler runs after). */
export function openSse(url: string, token: string, lastEventId: string | undefined, h: SseHandlers): () => void {
  const ctrl = new AbortController();
  let aborted = false;
  const headers: Record<string, string> = { accept: "text/event-stream", authorization: `Bearer ${token}` };
  if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
  void (async () => {
    let res: Response;
    try {
      res = await fetch(url, { headers, signal: ctrl.signal, cache: "no-store" });
    } catch (err) {
      if (!aborted) h.ended(`cannot open ${url}: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (aborted) return;
    if (res.status !== 200 || !res.body) {
      let detail = "";
      try {
        detail = ((await res.json()) as { detail?: string }).detail ?? "";
      } catch {
        // Not the server's JSON error (a proxy's page): the status says enough.
      }
      if (!aborted) h.refused(res.status, detail);
      return;
    }
    h.open();
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    let type = "message";
    let data: string[] = [];
    let id: string | undefined;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (aborted) return;
        if (done) break;
        h.alive();
        buf += value;
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
          if (line === "") {
            // As EventSource does: a block's id counts once the block is complete, data or not
            // (the opening block has an id and no data).
            if (id !== undefined) h.id(id);
            id = undefined;
            if (data.length > 0) h.event(type, data.join("\n"));
            if (aborted) return;
            type = "message";
            data = [];
          } else if (line.startsWith("data:")) data.push(line.slice(line.startsWith("data: ") ? 6 : 5));
          else if (line.startsWith("event:")) type = line.slice(6).trim();
          else if (line.startsWith("id:")) id = line.slice(line.startsWith("id: ") ? 4 : 3);
          // Comments (":") keep the link alive and say nothing.
        }
      }
    } catch (err) {
      if (!aborted) h.ended(`stream lost: ${err instanceof Error ? err.message : String(err)}`);
      return;
    }
    if (!aborted) h.ended("the server ended the stream");
  })();
  return () => {
    aborted = true;
    ctrl.abort();
  };
}
