/**
 * The host's /metrics: the Prometheus text of every worker, summed series by series. Every family
 * a worker has is a counter, a gauge or a histogram of counts, so a sum is the host's figure
 * (comet_bridge_connected summed is the number of workers connected). Families keep the order
 * the first worker gave them; a series only some workers have is summed over those.
 */
interface Family {
  /** The # HELP and # TYPE lines, from the first worker that had them. */
  head: string[];
  series: Map<string, number>;
}

export function sumMetrics(texts: readonly string[]): string {
  const families = new Map<string, Family>();
  for (const text of texts) {
    let current: Family | undefined;
    for (const line of text.split("\n")) {
      if (line === "") continue;
      if (line.startsWith("# ")) {
        // "# HELP name ..." or "# TYPE name ...": the family the next samples belong to.
        const name = line.split(" ", 3)[2] ?? "";
        current = families.get(name);
        if (!current) {
          current = { head: [], series: new Map() };
          families.set(name, current);
        }
        if (current.head.length < 2 && !current.head.includes(line)) current.head.push(line);
        continue;
      }
      const cut = line.lastIndexOf(" ");
      if (cut < 0 || !current) continue;
      const key = line.slice(0, cut);
      const value = Number(line.slice(cut + 1));
      current.series.set(key, (current.series.get(key) ?? 0) + (Number.isNaN(value) ? 0 : value));
    }
  }
  let out = "";
  for (const f of families.values()) {
    out += `${f.head.join("\n")}\n`;
    for (const [key, v] of f.series) out += `${key} ${v}\n`;
  }
  return out;
}
