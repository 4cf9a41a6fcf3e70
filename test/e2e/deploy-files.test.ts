/**
 * docs/deploy/ held to the server it deploys: every metric the Grafana dashboard and the alert
 * rules query is one that a running server exports on /metrics (a renamed metric would otherwise
 * leave an empty panel and an alert that can never fire), and the systemd unit reloads with SIGHUP
 * and gives the drain the time it takes. systemd-analyze and promtool check the files further
 * where they are installed (.ci/run installs both).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { buildProgram } from "../../src/cli/program.ts";
import { loadConfig } from "../../src/config/load.ts";
import { waitReadyz } from "../bridge/util.ts";
import { startTest, type TestServer } from "../helpers.ts";
import { Receiver } from "../webhooks/receiver.ts";

const DEPLOY = resolve(import.meta.dirname, "../../docs/deploy");
const read = (name: string): string => readFileSync(join(DEPLOY, name), "utf8");

// ---- PromQL: the metric names an expression selects ----

/** Words that are PromQL syntax, not series: operators, modifiers, and the literals Inf and NaN. */
const KEYWORDS = new Set([
  "and",
  "atan2",
  "or",
  "unless",
  "bool",
  "offset",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "inf",
  "nan",
]);

/**
 * The metric names in a PromQL expression. What is not a metric name is cut away first: strings
 * (label values, where a Grafana variable may stand), label matchers in braces, ranges and
 * subqueries in brackets (durations, $__rate_interval), and the label lists of by, without, on,
 * ignoring and group_*. An identifier left is then a function or aggregation when a parenthesis
 * follows it, a keyword, or a metric name. Unbalanced brackets fail: a broken query is no list.
 */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^{}]*\}/g, " ")
    .replace(/\[[^[\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)/gi, " ");
  let depth = 0;
  for (const ch of bare) {
    if (/[{}[\]]/.test(ch)) throw new Error(`unbalanced braces or brackets in ${expr}`);
    depth += ch === "(" ? 1 : ch === ")" ? -1 : 0;
    if (depth < 0) throw new Error(`unbalanced parentheses in ${expr}`);
  }
  if (depth !== 0) throw new Error(`unbalanced parentheses in ${expr}`);
  const names: string[] = [];
  // Not after a digit, a dot or a $: "5m", "1e3" and Grafana's $variables are no names.
  for (const m of bare.matchAll(/(?<![\w.$])[a-zA-Z_:][\w:]*/g)) {
    const rest = bare.slice((m.index as number) + m[0].length);
    if (/^\s*\(/.test(rest) || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.push(m[0]);
  }
  return names;
}

interface Query {
  where: string;
  expr: string;
}

/** Every query of the dashboard: each panel's targets (rows nest panels) and each query variable. */
function dashboardQueries(): Query[] {
  const dash = JSON.parse(read("grafana-dashboard.json")) as {
    panels: Array<Record<string, unknown>>;
    templating: { list: Array<Record<string, unknown>> };
  };
  const queries: Query[] = [];
  const walk = (panels: Array<Record<string, unknown>>) => {
    for (const p of panels) {
      for (const t of (p.targets as Array<{ expr?: string; refId: string }> | undefined) ?? []) {
        if (t.expr === undefined) throw new Error(`panel "${p.title}" ${t.refId}: a target with no expr`);
        queries.push({ where: `panel "${p.title}" ${t.refId}`, expr: t.expr });
      }
      walk((p.panels as Array<Record<string, unknown>> | undefined) ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating.list) {
    if (v.type !== "query") continue;
    const raw = typeof v.query === "string" ? v.query : (v.query as { query: string }).query;
    // Grafana's label_values(SELECTOR, LABEL): the selector is PromQL, the call is Grafana's.
    const m = /^\s*label_values\((.*),\s*[a-zA-Z_]\w*\s*\)\s*$/.exec(raw);
    queries.push({ where: `variable $${v.name}`, expr: m ? (m[1] as string) : raw });
  }
  return queries;
}

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): Rule[] {
  const doc = parse(read("prometheus-alerts.yaml")) as { groups: Array<{ name: string; rules: Rule[] }> };
  return doc.groups.flatMap((g) => g.rules);
}

/** The metric families a /metrics text declares, by name: `# TYPE name type`. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1] as string, m[2] as string);
  return out;
}

/** The family a series name belongs to: a histogram's _bucket, _sum and _count are its own. */
function familyOf(name: string, exported: Map<string, string>): string | undefined {
  if (exported.has(name)) return name;
  const m = /^(.*)_(?:bucket|sum|count)$/.exec(name);
  return m && exported.get(m[1] as string) === "histogram" ? m[1] : undefined;
}

/** The metric names the deploy README's "Metrics from elsewhere" lists: Prometheus's, exporters'. */
function documentedOutsiders(): Set<string> {
  const section = /^### Metrics from elsewhere\n([\s\S]*?)(?=^#)/m.exec(read("README.md"))?.[1] ?? "";
  return new Set([...section.matchAll(/^- `([a-zA-Z_:][\w:]*)`/gm)].map((m) => m[1] as string));
}

// ---- the server whose /metrics the files are read against ----

let server: TestServer;
let receiver: Receiver;
let exported: Map<string, string>;

beforeAll(async () => {
  // As deployed with all it can meter: the bridge (an embedded broker, so no outside one is
  // needed), a webhook, and presence, which is always on.
  receiver = new Receiver();
  server = await startTest(`
mqtt: {embedded: {listen: "127.0.0.1:0"}}
webhooks:
  - {url: "${receiver.url}", events: [ONLINE, OFFLINE, presence.ONLINE], secret: "deploy-test-webhook-secret"}
`);
  await waitReadyz(server, 200);
  exported = families(await (await fetch(`${server.url}/metrics`)).text());
});

afterAll(async () => {
  await server?.stop();
  receiver?.stop();
});

/**
 * What is wrong with queries: comet_* names that /metrics does not export, other names that the
 * README's "Metrics from elsewhere" does not list, and queries that name no metric at all.
 */
function checkQueries(queries: Query[]): { missing: string[]; undocumented: string[]; empty: string[] } {
  const outsiders = documentedOutsiders();
  const missing: string[] = [];
  const undocumented: string[] = [];
  const empty: string[] = [];
  for (const q of queries) {
    const names = metricNames(q.expr);
    if (names.length === 0) empty.push(q.where);
    for (const name of names) {
      if (name.startsWith("comet_")) {
        if (familyOf(name, exported) === undefined) missing.push(`${q.where}: ${name}`);
      } else if (!outsiders.has(name)) {
        undocumented.push(`${q.where}: ${name}`);
      }
    }
  }
  return { missing, undocumented, empty };
}

test("the server under test exports the families the check reads (a histogram among them)", () => {
  expect(exported.size).toBeGreaterThan(0);
  expect([...exported.values()]).toContain("histogram");
  expect([...exported.keys()].every((n) => n.startsWith("comet_"))).toBe(true);
});

test("the metric-name reader skips functions, labels, strings, ranges and variables", () => {
  const names = metricNames(
    'histogram_quantile(0.99, sum by (le, job) (rate(a_bucket{job=~"$job", x="comet_no"}[$__rate_interval] offset 5m))) > on(job) group_left(instance) b * 1e3 and bool c',
  );
  expect(names).toEqual(["a_bucket", "b", "c"]);
  expect(() => metricNames("sum(rate(a[5m])")).toThrow(/unbalanced/);
});

test("every query of the Grafana dashboard names metrics the server exports", () => {
  const queries = dashboardQueries();
  expect(queries.length).toBeGreaterThan(0);
  expect(checkQueries(queries)).toEqual({ missing: [], undocumented: [], empty: [] });
});

test("the dashboard asks for its Prometheus data source, never a fixed one", () => {
  const dash = JSON.parse(read("grafana-dashboard.json")) as {
    panels: Array<{ type: string; title: string; datasource?: { uid?: string } }>;
    templating: { list: Array<{ name: string; type: string; query?: unknown }> };
  };
  const source = dash.templating.list.find((v) => v.type === "datasource" && v.query === "prometheus");
  expect(source).toBeDefined();
  const uid = `\${${source?.name}}`;
  const fixed = dash.panels.filter((p) => p.type !== "row" && p.datasource?.uid !== uid).map((p) => p.title);
  expect(fixed).toEqual([]);
});

test("every alert rule names metrics the server exports, and has a for, a severity, a summary and a description", () => {
  const rules = alertRules();
  expect(rules.length).toBeGreaterThan(0);
  expect(checkQueries(rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })))).toEqual({
    missing: [],
    undocumented: [],
    empty: [],
  });
  const incomplete = rules
    .filter(
      (r) =>
        !r.for ||
        !["critical", "warning", "info"].includes(r.labels?.severity ?? "") ||
        !r.annotations?.summary ||
        !r.annotations?.description,
    )
    .map((r) => r.alert);
  expect(incomplete).toEqual([]);
});

test("promtool, where installed, parses the alert rules and every dashboard query", () => {
  const promtool = Bun.which("promtool");
  // The rules file as written; then each dashboard query as a recording rule, Grafana's variables
  // given values of their kind (a range, a job, a regex) as Grafana would.
  const dir = mkdtempSync(join(tmpdir(), "comet-promtool-"));
  try {
    const recording = dashboardQueries().map((q, i) => ({
      record: `dashboard:query_${i}`,
      expr: q.expr.replaceAll("$__rate_interval", "1m").replaceAll("$job", "comet").replaceAll("$instance", ".*"),
    }));
    const recordingFile = join(dir, "dashboard-rules.yaml");
    writeFileSync(recordingFile, JSON.stringify({ groups: [{ name: "dashboard", rules: recording }] }));
    // Without promtool the recording file is still made, and read back by the yaml package: the
    // substitution leaves no Grafana variable behind for another tool to trip on.
    expect(JSON.stringify(parse(readFileSync(recordingFile, "utf8")))).not.toContain("$");
    if (promtool === null) {
      console.log("promtool not installed: the PromQL syntax check is skipped (the metric names are checked above)");
      return;
    }
    for (const file of [join(DEPLOY, "prometheus-alerts.yaml"), recordingFile]) {
      const r = Bun.spawnSync([promtool, "check", "rules", file]);
      expect({ file, code: r.exitCode, out: `${r.stdout}${r.stderr}` }).toMatchObject({ file, code: 0 });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---- the systemd unit ----

/** A unit file's [Service] settings, by key (a key given twice keeps its last value, as systemd). */
function serviceSettings(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let section = "";
  for (const raw of text.replace(/\\\n/g, " ").split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const head = /^\[(.+)\]$/.exec(line);
    if (head) {
      section = head[1] as string;
      continue;
    }
    const eq = line.indexOf("=");
    if (section === "Service" && eq > 0) out.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  return out;
}

const SPAN_UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  sec: 1000,
  second: 1000,
  seconds: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hr: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
};

/** A systemd time span in ms ("30s", "1min 30s", "90": seconds without a unit; "infinity"). */
function timeSpanMs(value: string): number {
  if (value === "infinity") return Number.POSITIVE_INFINITY;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]*)\s*/g)];
  if (parts.map((p) => p[0]).join("") !== value.replace(/^\s+/, "")) throw new Error(`not a time span: ${value}`);
  return parts.reduce((ms, p) => {
    const unit = p[2] === "" ? "s" : (p[2] as string);
    if (!(unit in SPAN_UNITS)) throw new Error(`not a time span unit: ${unit} in ${value}`);
    return ms + Number(p[1]) * (SPAN_UNITS[unit] as number);
  }, 0);
}

const unitText = read("comet.service");
const service = serviceSettings(unitText);

test("the unit stops with SIGTERM and waits longer than the default shutdown.drain", () => {
  expect(service.get("KillSignal")).toBe("SIGTERM");
  // The schema's default as a loaded config reads it (defaults are written as the file writes them: "10s").
  const drainMs = loadConfig({}).shutdown.drain;
  expect(drainMs).toBeGreaterThan(0);
  const stopMs = timeSpanMs(service.get("TimeoutStopSec") ?? "");
  expect(stopMs).toBeGreaterThan(drainMs);
});

test("the unit reloads with SIGHUP to the main process and raises the open-file limit", () => {
  expect(service.get("ExecReload")).toMatch(/^\/\S*\/kill\s+-(?:HUP|SIGHUP|s\s+(?:SIG)?HUP)\s+\$MAINPID$/);
  const nofile = service.get("LimitNOFILE") ?? "";
  // One descriptor per connection: anything near the usual 1024 would cap the gateway there.
  expect(nofile === "infinity" || Number(nofile.split(":").pop()) >= 65536).toBe(true);
});

test("the unit runs comet serve with flags the CLI has, as a user of its own", () => {
  const [, command, ...args] = (service.get("ExecStart") ?? "").split(/\s+/);
  const serve = buildProgram().commands.find((c) => c.name() === command);
  expect(serve?.name()).toBe("serve");
  const flags = new Set(serve?.options.flatMap((o) => [o.long, o.short]).filter((f) => f !== undefined));
  const used = args.filter((a) => a.startsWith("-"));
  expect(used.length).toBeGreaterThan(0);
  expect(used.filter((f) => !flags.has(f.split("=")[0] as string))).toEqual([]);
  expect(service.get("User") ?? "root").not.toBe("root");
  expect(service.get("DynamicUser") === "yes" || service.has("User")).toBe(true);
  expect(service.get("NoNewPrivileges")).toBe("yes");
});

test("systemd-analyze verify, where installed, finds nothing to say about the unit", () => {
  const analyze = Bun.which("systemd-analyze");
  // The unit as installed, but with an ExecStart binary that exists here: verify checks that it
  // is executable, and the comet binary is only on the host it is installed on.
  const exec = (service.get("ExecStart") ?? "").split(/\s+/)[0] as string;
  const dir = mkdtempSync(join(tmpdir(), "comet-unit-"));
  try {
    const file = join(dir, "comet.service");
    writeFileSync(file, unitText.replace(`ExecStart=${exec} `, "ExecStart=/bin/true "));
    expect(readFileSync(file, "utf8")).toContain("ExecStart=/bin/true serve");
    if (analyze === null) {
      console.log("systemd-analyze not installed: the unit's keys are checked above, not its syntax");
      return;
    }
    const r = Bun.spawnSync([analyze, "verify", file], { cwd: dir });
    const said = `${r.stdout}${r.stderr}`;
    // verify exits 0 on an unknown key or a bad value, and only says so: what it says of this
    // file is a failure too (lines about the system's own units are not this file's business).
    expect({ code: r.exitCode, about: said.split("\n").filter((l) => l.includes(file)) }).toEqual({
      code: 0,
      about: [],
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
