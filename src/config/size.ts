/** Byte sizes in config: a plain count (65536) or a string with a unit ("512KiB", "64MiB", "1GiB"). */
const UNITS: Record<string, number> = { "": 1, B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };
const PATTERN = /^(\d+)\s*(B|KiB|MiB|GiB)?$/;

/** The byte count, or undefined when value is not a size. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = PATTERN.exec(value.trim());
  if (!m) return undefined;
  const n = Number(m[1]) * (UNITS[m[2] ?? ""] as number);
  return Number.isSafeInteger(n) ? n : undefined;
}
