/**
 * Tables with cli-table3, fast for tens of thousands of rows. cli-table3 lays out a table in time
 * quadratic in its rows (every cell is checked against every earlier row for spans), so a table of
 * 10 000 sessions takes seconds. Rendering fixed-width chunks of rows and joining them where one
 * chunk's bottom border meets the next one's top border keeps it linear and looks the same.
 */

const CHUNK_ROWS = 100;
// C0/C1 controls and invisible format characters (zero-width space, soft hyphen, bidi marks...):
// they would break a row or hide what an id really holds, so they are shown escaped.
const UNPRINTABLE = /[\p{Cc}\p{Cf}]/gu;

/** A cell's text as it is shown: one line, nothing invisible. */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => `\\u${(c.codePointAt(0) as number).toString(16).padStart(4, "0")}`);
}

/** Loads cli-table3 on first use: only the commands that print a table (dump, presence, revocations) have it in memory. */
export async function renderTable(head: string[], rows: string[][]): Promise<string> {
  const [{ default: Table }, { default: stringWidth }] = await Promise.all([
    import("cli-table3"),
    // The measure cli-table3 itself uses, so that column widths agree with its layout on every runtime.
    import("string-width"),
  ]);
  const cells = rows.map((r) => r.map(printable));
  // cli-table3's colWidths count one space of padding on each side.
  const colWidths = head.map(
    (h, i) => 2 + cells.reduce((w, r) => Math.max(w, stringWidth(r[i] ?? "")), stringWidth(h)),
  );
  const chunk = (part: string[][], withHead: boolean): string[] => {
    const t = new Table({ ...(withHead ? { head } : {}), colWidths, style: { head: [], border: [], compact: true } });
    t.push(...part);
    return t.toString().split("\n");
  };
  if (cells.length <= CHUNK_ROWS) return chunk(cells, true).join("\n");
  const lines: string[] = [];
  for (let at = 0; at < cells.length; at += CHUNK_ROWS) {
    const part = chunk(cells.slice(at, at + CHUNK_ROWS), at === 0);
    const first = at === 0 ? 0 : 1; // the top border, already drawn as the previous chunk's last row
    const last = at + CHUNK_ROWS >= cells.length ? part.length : part.length - 1; // the bottom border, unless last
    for (let i = first; i < last; i++) lines.push(part[i] as string);
  }
  return lines.join("\n");
}
