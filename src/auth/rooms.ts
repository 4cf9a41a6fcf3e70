/**
 * The `rooms` claim: exact rids and prefixes ending in "*" ("*" alone allows every room).
 * Compiled once per token into a Set and a short prefix list; no regular expressions.
 */
export interface RoomAccess {
  allows(rid: string): boolean;
}

export const ANY_ROOM: RoomAccess = { allows: () => true };
export const NO_ROOM: RoomAccess = { allows: () => false };

class ClaimAccess implements RoomAccess {
  constructor(
    private readonly exact: Set<string>,
    private readonly prefixes: string[],
  ) {}
  allows(rid: string): boolean {
    if (this.exact.has(rid)) return true;
    for (const p of this.prefixes) if (rid.startsWith(p)) return true;
    return false;
  }
}

/** Returns undefined when the claim is not an array of strings (the token is then invalid). */
export function compileRoomsClaim(claim: unknown): RoomAccess | undefined {
  if (!Array.isArray(claim)) return undefined;
  const exact = new Set<string>();
  const prefixes: string[] = [];
  for (const entry of claim) {
    if (typeof entry !== "string") return undefined;
    if (entry === "*") return ANY_ROOM;
    if (entry.endsWith("*")) prefixes.push(entry.slice(0, -1));
    else exact.add(entry);
  }
  if (prefixes.length === 0 && exact.size === 0) return NO_ROOM;
  return new ClaimAccess(exact, prefixes);
}
