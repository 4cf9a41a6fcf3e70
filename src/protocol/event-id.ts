/**
 * The SSE event id: the connection's position in all three of its streams, so that the one id an
 * EventSource remembers (and sends back as Last-Event-ID) resumes every stream. Written
 * `u:<epoch>:<seq>,r:<epoch>:<seq>,w:<epoch>:<seq>`, each epoch URI-encoded (an epoch is opaque:
 * whatever it holds, the id keeps no comma, colon, CR, LF or NUL, which SSE would cut or drop).
 * `r` is the position in the room of the stream's `rid`, absent when it is in none. Pure.
 */
import type { Position, Recover } from "./frames.ts";

const KINDS = ["u", "r", "w"] as const;

export function encodeEventId(p: Recover): string {
  let out = "";
  for (const k of KINDS) {
    const pos = p[k];
    if (!pos) continue;
    if (out !== "") out += ",";
    out += `${k}:${encodeURIComponent(pos.epoch)}:${pos.seq}`;
  }
  return out;
}

/**
 * A Last-Event-ID read back into a `recover`; undefined when it is not one this server wrote (the
 * caller then recovers nothing and reports the gap). A seq is at most 16 digits (2^53 has 16).
 */
export function parseEventId(id: string): Recover | undefined {
  if (id === "" || id.length > 1024) return undefined;
  const out: Recover = {};
  for (const part of id.split(",")) {
    const m = /^([urw]):([^:]*):(\d{1,16})$/.exec(part);
    if (!m) return undefined;
    const k = m[1] as (typeof KINDS)[number];
    if (out[k]) return undefined;
    let epoch: string;
    try {
      epoch = decodeURIComponent(m[2] as string);
    } catch {
      return undefined;
    }
    const seq = Number(m[3]);
    if (!Number.isSafeInteger(seq)) return undefined;
    out[k] = { epoch, seq } satisfies Position;
  }
  return out;
}
