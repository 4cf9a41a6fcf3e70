/**
 * Stream names as the shared log keeps them: "u:<uid>" for a user's stream (frames still say "u"),
 * "r:<rid>" for a room's, "w" for the world's; and back from a name and an evt to a delivery.
 */
import type { Delivery } from "../protocol/commands.ts";

/** The log's name of the stream a delivery goes to. */
export function streamOf(d: Delivery): string {
  if (d.kind === "publish") return `u:${d.uid}`;
  return d.rid === "" ? "w" : `r:${d.rid}`;
}

/** A message read from the log, as the delivery it was. */
export function deliveryOf(stream: string, evt: string): Delivery {
  if (stream.startsWith("u:")) return { kind: "publish", uid: stream.slice(2), evt };
  return { kind: "broadcast", rid: stream === "w" ? "" : stream.slice(2), evt };
}

/** The log's name of a session's stream, from the kind a `recover` names it by. */
export function logName(kind: "u" | "r" | "w", uid: string, rid: string): string {
  return kind === "u" ? `u:${uid}` : kind === "r" ? `r:${rid}` : "w";
}
