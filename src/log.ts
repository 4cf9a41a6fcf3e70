/** JSON log lines with stable keys (or "pretty" for people), to stderr. Never log tokens or evt bodies. */
export type Level = "debug" | "info" | "warn" | "error";
const RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type Fields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: Fields): void;
  info(msg: string, fields?: Fields): void;
  warn(msg: string, fields?: Fields): void;
  error(msg: string, fields?: Fields): void;
  enabled(level: Level): boolean;
}

export function createLogger(
  level: Level = "info",
  format: "json" | "pretty" = "json",
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  const min = RANK[level];
  const out = (lvl: Level, msg: string, fields?: Fields): void => {
    if (RANK[lvl] < min) return;
    const time = new Date().toISOString();
    if (format === "json") {
      write(`${JSON.stringify({ time, level: lvl, msg, ...fields })}\n`);
    } else {
      const rest = fields
        ? Object.entries(fields)
            .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
            .join(" ")
        : "";
      write(`${time} ${lvl.toUpperCase().padEnd(5)} ${msg}${rest ? ` ${rest}` : ""}\n`);
    }
  };
  return {
    debug: (m, f) => out("debug", m, f),
    info: (m, f) => out("info", m, f),
    warn: (m, f) => out("warn", m, f),
    error: (m, f) => out("error", m, f),
    enabled: (l) => RANK[l] >= min,
  };
}

export const silentLogger: Logger = createLogger("error", "json", () => {});
