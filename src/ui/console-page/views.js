// The console's views: every uid, rid and event is put in the page as text (textContent, never
// markup), whatever it holds.
const MAX_ROWS = 500;
const MAX_LOG = 200;

const el = (name, text, className) => {
  const e = document.createElement(name);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
};

/** A table; a cell is a string (put as text) or a node. */
export function table(headers, rows) {
  const t = document.createElement("table");
  const head = t.createTHead().insertRow();
  for (const h of headers) {
    const th = el("th", h);
    th.scope = "col";
    head.append(th);
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    for (const c of r) {
      const td = tr.insertCell();
      if (typeof c === "string") td.textContent = c;
      else td.append(c);
    }
  }
  return t;
}

/** Nanoseconds since the epoch (a decimal string) as a local time. */
const fromNs = (ns) => new Date(Number(BigInt(ns) / 1000000n)).toLocaleTimeString();

/**
 * The instances, each with its sessions. `serverOf` maps a uid to the instance Presence names; a
 * session it does not know is listed under "instance unknown".
 */
export function renderInstances(box, { self, instances }, dump, serverOf, onDisconnect) {
  const groups = new Map(instances.map((id) => [id, []]));
  for (const s of dump.world.slice(0, MAX_ROWS)) {
    const server = serverOf.get(s.uid) ?? "";
    if (!groups.has(server)) groups.set(server, []);
    groups.get(server).push(s);
  }
  const unanswered = new Set(dump.unanswered ?? []);
  const parts = [];
  const shown = Math.min(dump.world.length, MAX_ROWS);
  parts.push(el("p", `${instances.length} instance(s), ${dump.world.length} session(s), ${dump.rooms.length} room(s)`));
  if (shown < dump.world.length) parts.push(el("p", `Showing the newest ${shown} sessions.`, "note"));
  for (const [id, sessions] of groups) {
    const title = id === "" ? "instance unknown" : `${id}${id === self ? " (this instance)" : ""}`;
    const h = el("h3", `${title}: ${sessions.length} session(s)`);
    if (unanswered.has(id)) h.append(el("span", " did not answer", "error"));
    const rows = sessions.map((s) => {
      const button = el("button", "Disconnect…", "secondary small");
      button.type = "button";
      button.setAttribute("aria-label", `Disconnect ${s.uid}`);
      button.addEventListener("click", () => onDisconnect(s.uid));
      return [s.uid, s.rid, s.transport ?? "", s.birth, button];
    });
    parts.push(h, table(["uid", "room", "transport", "birth", ""], rows));
  }
  box.replaceChildren(...parts);
}

export function renderPresence(box, online) {
  if (online.length === 0) {
    box.replaceChildren(el("p", "No one of them is online.", "note"));
    return;
  }
  const rows = online.map((p) => [p.uid, p.rid, p.server, fromNs(p.since)]);
  box.replaceChildren(table(["uid", "room", "instance", "online since"], rows));
}

export function renderHistory(head, list, h) {
  const who = h.uid !== undefined ? `${h.stream} (${h.uid})` : h.stream;
  head.textContent =
    h.epoch === ""
      ? `${who}: no such stream on this instance`
      : `${who}: epoch ${h.epoch}, last seq ${h.seq}, ${h.messages.length} kept`;
  list.replaceChildren(
    ...h.messages.map((m) => {
      const li = el("li");
      li.append(el("span", `#${m.seq}`, "seq"), el("time", new Date(m.at).toLocaleTimeString()), el("span", m.evt));
      return li;
    }),
  );
}

/** One activity event at the top of the list, which keeps the last MAX_LOG. */
export function addActivity(list, a) {
  const li = el("li");
  li.dataset.type = a.type;
  const where = a.rid ? ` in ${a.rid}` : "";
  li.append(el("time", fromNs(a.time)), el("span", a.type, "type"), el("span", `${a.uid}${where}`));
  list.prepend(li);
  while (list.children.length > MAX_LOG) list.lastElementChild.remove();
}

/** A line of outcome: an error in red. */
export function say(out, text, error = false) {
  out.className = error ? "error" : "";
  out.textContent = text;
}
