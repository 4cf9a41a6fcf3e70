// The console's live activity: GET /console/activity read with fetch (so the admin token goes in a
// header, which EventSource cannot send), parsed as Server-Sent Events, and read again 2 s after it
// ends (a slow reader is dropped by the server; the next stream starts from now).
const RETRY_MS = 2000;
const MAX_PENDING = 64 * 1024;

/** Calls onEvent with each event's object and onState with "live", "reconnecting" or "unauthorized"; answers a stop. */
export function followActivity(headers, onEvent, onState) {
  let stopped = false;
  let abort = null;

  async function readOnce() {
    abort = new AbortController();
    const res = await fetch("/console/activity", { headers: headers(), signal: abort.signal });
    if (res.status === 401) return "unauthorized";
    if (!res.ok || !res.body) return "reconnecting";
    onState("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return "reconnecting";
      pending += value;
      let end = pending.indexOf("\n\n");
      while (end >= 0) {
        for (const line of pending.slice(0, end).split("\n")) {
          if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
        }
        pending = pending.slice(end + 2);
        end = pending.indexOf("\n\n");
      }
      if (pending.length > MAX_PENDING) pending = "";
    }
  }

  (async () => {
    while (!stopped) {
      const state = await readOnce().catch(() => "reconnecting");
      if (stopped) return;
      onState(state);
      if (state === "unauthorized") return;
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  })();

  return () => {
    stopped = true;
    abort?.abort();
  };
}
