// The operators' console: asks for the admin token once (kept in sessionStorage), then every call
// carries it. Served from /ui/console/console.js, never inline, under the page's
// Content-Security-Policy (scripts and connections from this origin only).
import { followActivity } from "/ui/console/activity.js";
import { drawChart, metric, Ring } from "/ui/console/chart.js";
import { addActivity, renderHistory, renderInstances, renderPresence, say } from "/ui/console/views.js";

const KEY = "comet-console-admin";
const REFRESH_MS = 2000;
const $ = (id) => document.getElementById(id);
let token = sessionStorage.getItem(KEY) ?? "";
let timer = null;
let stopActivity = null;

class Unauthorized extends Error {}

const headers = () => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });

async function call(url, init = {}) {
  const res = await fetch(url, { ...init, headers: headers() });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) throw new Unauthorized("the admin token was refused");
  if (!res.ok) throw new Error(`${res.status}: ${json.detail ?? res.statusText}`);
  return json;
}
const api = (method, body) => call(`/comet/Comet/${method}`, { method: "POST", body: JSON.stringify(body ?? {}) });

function signOut(why = "") {
  token = "";
  sessionStorage.removeItem(KEY);
  clearInterval(timer);
  stopActivity?.();
  $("console").hidden = true;
  $("login").hidden = false;
  $("login-error").textContent = why;
}

/** An error where it happened; a refused token asks for it again. */
function failed(out, what, err) {
  if (err instanceof Unauthorized) signOut("That admin token was refused: give one of admin.tokens.");
  else say(out, `${what} failed: ${err.message}`, true);
}

// Instances and sessions: DumpSession, then Presence for the instance each user is on.
let lastView = "";
async function refreshInstances() {
  try {
    const [instances, dump] = await Promise.all([call("/console/instances"), api("DumpSession", { transport: true })]);
    const uids = dump.world.slice(0, 1000).map((s) => s.uid);
    const online = uids.length ? (await api("Presence", { uids })).online : [];
    const serverOf = new Map(online.map((p) => [p.uid, p.server]));
    const view = JSON.stringify([instances, dump, online]);
    say($("inst-error"), "");
    if (view === lastView) return;
    lastView = view;
    renderInstances($("instances"), instances, dump, serverOf, (uid) => {
      $("dc-uid").value = uid;
      $("dc-reason").focus();
    });
  } catch (err) {
    failed($("inst-error"), "Reading the sessions", err);
  }
}

// Traffic: two counters of /metrics, sampled into rings (5 minutes of 2 s samples).
const conns = new Ring(150);
const deliveries = new Ring(150);
let previous = null;
async function refreshTraffic() {
  try {
    const res = await fetch("/metrics", { headers: headers() });
    const text = await res.text();
    const now = { at: performance.now(), conn: metric(text, "comet_connections") };
    now.delivered = metric(text, "comet_pushes_delivered_total");
    conns.push(now.conn);
    const rate = previous ? Math.max(0, (now.delivered - previous.delivered) / ((now.at - previous.at) / 1000)) : 0;
    deliveries.push(rate);
    previous = now;
    $("conn-now").textContent = String(now.conn);
    $("deliv-now").textContent = rate.toFixed(1);
    drawChart($("chart-conn"), conns);
    drawChart($("chart-deliv"), deliveries);
  } catch {
    // the next sample tells
  }
}

function refresh() {
  refreshInstances();
  refreshTraffic();
}

function start() {
  $("login").hidden = true;
  $("console").hidden = false;
  lastView = "";
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
  stopActivity?.();
  stopActivity = followActivity(
    headers,
    (a) => addActivity($("activity"), a),
    (state) => {
      if (state === "unauthorized") signOut("That admin token was refused: give one of admin.tokens.");
      else $("live-state").textContent = state;
    },
  );
}

$("login").addEventListener("submit", async (e) => {
  e.preventDefault();
  token = $("admin").value.trim();
  $("admin").value = "";
  try {
    await call("/console/instances");
    sessionStorage.setItem(KEY, token);
    start();
  } catch (err) {
    signOut(err instanceof Unauthorized ? "That admin token was refused." : err.message);
  }
});
$("logout").addEventListener("click", () => signOut());

/** A form whose submit calls `run` and says the outcome in #action-result (or `out`). */
function onSubmit(form, what, run, out = $("action-result")) {
  $(form).addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const text = await run();
      if (text !== undefined) say(out, text);
    } catch (err) {
      failed(out, what, err);
    }
  });
}

const at = () => new Date().toLocaleTimeString();
onSubmit("publish-form", "Publish", async () => {
  await api("Publish", { uid: $("pub-uid").value.trim(), evt: $("pub-evt").value });
  return `Publish: sent at ${at()}`;
});
onSubmit("broadcast-form", "Broadcast", async () => {
  await api("Broadcast", { rid: $("bc-rid").value.trim(), evt: $("bc-evt").value });
  return `Broadcast: sent at ${at()}`;
});
onSubmit("disconnect-form", "Disconnect", async () => {
  const uid = $("dc-uid").value.trim();
  const { disconnected, unanswered } = await api("Disconnect", { uid, reason: $("dc-reason").value });
  refreshInstances();
  const missing = unanswered?.length ? ` (no answer from ${unanswered.join(", ")})` : "";
  return `Disconnect: ${disconnected ?? 0} session(s) of ${uid} closed at ${at()}${missing}`;
});
onSubmit(
  "presence-form",
  "Presence",
  async () => {
    const q = $("pres-q").value.trim();
    const body = $("pres-by").value === "rid" ? { rid: q } : { uids: q.split(/\s+/).filter(Boolean) };
    renderPresence($("presence"), (await api("Presence", body)).online);
  },
  $("presence"),
);
onSubmit(
  "history-form",
  "History",
  async () => {
    const kind = $("hist-kind").value;
    const key = $("hist-key").value.trim();
    const q = new URLSearchParams(
      kind === "u" ? { stream: "u", uid: key } : { stream: kind === "r" ? `r:${key}` : "w" },
    );
    renderHistory($("hist-head"), $("history"), await call(`/console/history?${q}`));
  },
  $("hist-head"),
);

if (token) start();
