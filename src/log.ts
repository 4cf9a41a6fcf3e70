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
  /** A reload's log.level: every holder of this logger sees it at once. */
  setLevel(level: Level): void;
}

// Everything that could end a line or steer a terminal: the C0 controls, DEL, the C1 controls (all
// three are \p{Cc}; 0x9b starts an escape sequence on some terminals), the line and paragraph
// separators.
const CONTROLS = /[\p{Cc}\u2028\u2029]/gu;
const SHORT: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f" };
// A value that reads unambiguously without quotes: no space, quote, "=", backslash or control.
const BARE = /^[^\s"=\\\p{Cc}]+$/u;

/** Control characters as JSON escapes them (\n, \u001b); JSON leaves DEL, C1 and U+2028/9 as they are. */
const escapeControls = (s: string): string =>
  s.replace(CONTROLS, (c) => SHORT[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/**
 * One value of a pretty line. Values come from clients too (a token's `sub` is the uid), so
 * anything that could end the line or pass for another field is quoted and escaped as JSON:
 * `uid="a\nINFO forged"` stays one line and one field.
 */
function prettyValue(v: unknown): string {
  if (typeof v === "string" && BARE.test(v)) return v;
  return escapeControls(JSON.stringify(v) ?? String(v));
}

export function createLogger(
  level: Level = "info",
  format: "json" | "pretty" = "json",
  write: (line: string) => void = (line) => process.stderr.write(line),
): Logger {
  let min = RANK[level];
  const out = (lvl: Level, msg: string, fields?: Fields): void => {
    if (RANK[lvl] < min) return;
    const time = new Date().toISOString();
    if (format === "json") {
      write(`${JSON.stringify({ time, level: lvl, msg, ...fields })}\n`);
    } else {
      // Fields without a value are left out, as JSON.stringify leaves them out of a JSON line.
      const rest = fields
        ? Object.entries(fields)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => `${k}=${prettyValue(v)}`)
            .join(" ")
        : "";
      write(`${time} ${lvl.toUpperCase().padEnd(5)} ${escapeControls(msg)}${rest ? ` ${rest}` : ""}\n`);
    }
  };
  return {
    debug: (m, f) => out("debug", m, f),
    info: (m, f) => out("info", m, f),
    warn: (m, f) => out("warn", m, f),
    error: (m, f) => out("error", m, f),
    enabled: (l) => RANK[l] >= min,
    setLevel: (l) => {
      min = RANK[l];
    },
  };
}

/** The same logger, every line carrying `base` too (a worker's number, so a host's lines say whose they are). */
export function withFields(log: Logger, base: Fields): Logger {
  return {
    debug: (m, f) => log.debug(m, { ...base, ...f }),
    info: (m, f) => log.info(m, { ...base, ...f }),
    warn: (m, f) => log.warn(m, { ...base, ...f }),
    error: (m, f) => log.error(m, { ...base, ...f }),
    enabled: (l) => log.enabled(l),
    setLevel: (l) => log.setLevel(l),
  };
}

export const silentLogger: Logger = createLogger("error", "json", () => {});
