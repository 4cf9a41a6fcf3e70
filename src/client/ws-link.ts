/**
 * The client's WebSocket link: one socket to the subscribe URL, its frames handed over as text
 * (a binary frame is UTF-8 JSON too). The client decides what a close means.
 */

const OPEN = 1;

export interface WsHandlers {
  /** The socket is open: time to send AUTH. */
  open(): void;
  /** A downlink frame's text. */
  frame(text: string): void;
  /** The socket closed (code 0 when the runtime gave none); never after drop. */
  closed(code: number, reason: string): void;
}

export interface WsLink {
  /** Sends a frame as JSON when the socket is open; does nothing otherwise. */
  send(frame: unknown): void;
  /** Forgets the socket without waiting for its close: a dead link may never report one. No handler runs after. */
  drop(): void;
}

/** Opens the socket (throws what the WebSocket constructor throws: a URL it refuses). */
export function openWebSocket(url: string, h: WsHandlers): WsLink {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => h.open();
  ws.onmessage = (e: MessageEvent) =>
    h.frame(typeof e.data === "string" ? e.data : new TextDecoder().decode(e.data as ArrayBuffer));
  ws.onclose = (e: CloseEvent) => h.closed(e.code, e.reason);
  return {
    send(frame) {
      if (ws.readyState === OPEN) ws.send(JSON.stringify(frame));
    },
    drop() {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        // Already closing or closed.
      }
    },
  };
}
