/** UTF-8 length without encoding when the answer is obvious (a UTF-16 unit is at most 3 bytes). */
export function utf8Length(s: string, limit: number): number {
  if (s.length * 3 <= limit) return s.length;
  return Buffer.byteLength(s, "utf8");
}
