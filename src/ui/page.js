// The demo page's script: served from /ui/page.js, not inline, so that the page's
// Content-Security-Policy can allow scripts from its own origin only.
import { CometClient } from "/comet-client.js";

const HEARTBEAT_MS = Number(document.querySelector('meta[name="comet-heartbeat-ms"]')?.content) || 60000;
const $ = (id) => document.getElementById(id);
const wsUrl = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/comet/Comet/Subscribe`;
let client = null;

$("admin").value = sessionStorage.getItem("comet-admin") ?? "";
$("admin").addEventListener("input", () => {
  sessionStorage.setItem("comet-admin", $("admin").value);
  refreshDump();
});

const adminHeaders = () => ({ authorization: `Bearer ${$("admin").value.trim()}`, "content-type": "application/json" });

async function api(method, body) {
  const res = await fetch(`/comet/Comet/${method}`, {
    method: "POST",
    headers: adminHeaders(),
    body: JSON.stringify(body ?? {}),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(`${res.status}: ${json.detail ?? res.statusText}`);
  return json;
}

function showEvent(text, kind = "push") {
  const li = document.createElement("li");
  const t = document.createElement("time");
  const now = new Date();
  t.dateTime = now.toISOString();
  t.textContent = now.toLocaleTimeString();
  li.append(t, kind === "push" ? text : `[${text}]`);
  li.dataset.kind = kind;
  $("events").prepend(li);
  while ($("events").children.length > 200) $("events").lastElementChild.remove();
}

function setConnected(on) {
  $("connect").disabled = on;
  $("disconnect").disabled = !on;
  $("join").disabled = !on;
}

async function tokenFor(uid) {
  const pasted = $("token").value.trim();
  if (pasted) return pasted;
  const res = await fetch("/ui/token", { method: "POST", headers: adminHeaders(), body: JSON.stringify({ uid }) });
  const json = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(json.detail ?? `token: ${res.status}`);
  return json.token;
}

$("connect-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const uid = $("uid").value.trim();
  const rid = $("rid").value.trim();
  client?.close();
  $("why").textContent = "";
  client = new CometClient({
    url: wsUrl,
    token: () => tokenFor(uid),
    rid: rid || undefined,
    heartbeatInterval: HEARTBEAT_MS,
    backoffBase: 250,
    backoffMax: 5000,
  });
  client.on("state", (s) => {
    $("state").textContent = s;
    setConnected(s !== "closed");
  });
  client.on("push", (evt) => showEvent(evt));
  client.on("open", () => showEvent(`connected as ${uid}`, "info"));
  client.on("close", (code, reason) => {
    showEvent(`closed ${code}${reason ? `: ${reason}` : ""}`, "info");
    if (client.state === "closed") $("why").textContent = `(${code}${reason ? ` ${reason}` : ""})`;
  });
  client.connect().catch(() => {});
});

$("disconnect").addEventListener("click", () => {
  client?.close();
  client = null;
});

$("join-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const rid = $("join-rid").value.trim();
  client?.join(rid);
  $("rid").value = rid;
  showEvent(rid ? `joined ${rid}` : "left the room", "info");
});

for (const [form, method, fields] of [
  ["publish-form", "Publish", () => ({ uid: $("pub-uid").value.trim(), evt: $("pub-evt").value })],
  ["broadcast-form", "Broadcast", () => ({ rid: $("bc-rid").value.trim(), evt: $("bc-evt").value })],
]) {
  $(form).addEventListener("submit", async (e) => {
    e.preventDefault();
    const out = $("admin-result");
    try {
      await api(method, fields());
      out.className = "";
      out.textContent = `${method}: sent at ${new Date().toLocaleTimeString()}`;
      refreshDump();
    } catch (err) {
      out.className = "error";
      out.textContent = `${method} failed: ${err.message}`;
    }
  });
}

function table(caption, headers, rows) {
  const t = document.createElement("table");
  t.createCaption().textContent = caption;
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = h;
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of r) tr.insertCell().textContent = c;
  }
  return t;
}

let dumping = false;
async function refreshDump() {
  if (dumping) return;
  const box = $("dump");
  if (!$("admin").value.trim()) {
    box.innerHTML = '<p class="note">No admin token.</p>';
    return;
  }
  dumping = true;
  try {
    const d = await api("DumpSession");
    const now = Date.now();
    const age = (b) => `${Math.max(0, Math.round((now - Date.parse(b)) / 1000))}s`;
    box.replaceChildren(
      table(
        `World: ${d.world.length}`,
        ["uid", "room", "birth", "age"],
        d.world.slice(0, 500).map((s) => [s.uid, s.rid, s.birth, age(s.birth)]),
      ),
      table(
        `Rooms: ${d.rooms.length}`,
        ["rid", "members"],
        d.rooms.slice(0, 500).map((r) => [r.rid, String(r.room.length)]),
      ),
    );
  } catch (err) {
    box.innerHTML = "";
    const p = document.createElement("p");
    p.className = "error";
    p.textContent = `DumpSession failed: ${err.message}`;
    box.append(p);
  } finally {
    dumping = false;
  }
}
setInterval(refreshDump, 2000);
refreshDump();
