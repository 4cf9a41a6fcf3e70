/** Reading parsed JSON (or a protobuf message as a plain object): the checks every decoder shares. */

/** A JSON object: not null, not an array. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The name of a JSON value's type, as error messages say it ("null", "array", "number", ...). */
export function kindOf(v: unknown): string {
  if (v === null) return "null";
  return Array.isArray(v) ? "array" : typeof v;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A payload that must be a JSON object (what instances send each other over the broker): the
 * object, or undefined when the bytes are not UTF-8, not JSON, or not an object. Never throws.
 */
export function jsonObjectOf(payload: Uint8Array): Record<string, unknown> | undefined {
  let o: unknown;
  try {
    o = JSON.parse(utf8.decode(payload));
  } catch {
    return undefined;
  }
  return isObject(o) ? o : undefined;
}
