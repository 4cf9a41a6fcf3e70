/** Reading parsed JSON (or a protobuf message as a plain object): the checks every decoder shares. */

/** A JSON object: not null, not an array. */
export const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The name of a JSON value's type, as error messages say it ("null", "array", "number", ...). */
export function kindOf(v: unknown): string {
  if (v === null) return "null";
  return Array.isArray(v) ? "array" : typeof v;
}
