/** WebSocket close codes (docs/protocol.md, "Close codes"). The reason text says what happened and never echoes a token. */
export const Close = {
  GoingAway: 1001,
  TooBig: 1009,
  BadFrame: 4400,
  Unauthorized: 4401,
  Forbidden: 4403,
  Timeout: 4408,
  Replaced: 4409,
  /** An operator's Disconnect (PROTOCOL.md Part 3): the SDK does not reconnect. */
  Disconnected: 4410,
  RateLimited: 4429,
  Overloaded: 4503,
} as const;

export type CloseCode = (typeof Close)[keyof typeof Close];

// The table's codes, the standard ones a session ends with in the normal run of things, and the
// runtime's own answers to a broken frame (1002 protocol error, 1007 a payload that does not inflate).
const LABELLED = new Set<number>([...Object.values(Close), 1000, 1001, 1002, 1005, 1006, 1007]);

/**
 * A close code as a metric label: its own value when it is one of LABELLED, else "other". A client
 * may close with any code from 3000 to 4999; one series per code it makes up would let it grow the
 * metrics without bound.
 */
export function closeLabel(code: number): string {
  return LABELLED.has(code) ? String(code) : "other";
}

/** Close reasons must fit a control frame (123 bytes); cut longer ones on a character boundary. */
export function clampReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let r = reason.slice(0, 120);
  while (Buffer.byteLength(r) > 120) r = r.slice(0, -1);
  return `${r}...`;
}
