/**
 * Load for the soak test, in a process of its own: CLIENTS sockets that connect, join, move, leave
 * and reconnect for SECONDS while the HTTP API publishes to them. Prints one JSON line of totals.
 */
import { SignJWT } from "jose";

const url = process.env.URL as string;
const clients = Number(process.env.CLIENTS ?? 1000);
const seconds = Number(process.env.SECONDS ?? 10);
const secret = new TextEncoder().encode(process.env.SECRET as string);
const admin = process.env.ADMIN as string;
const wsUrl = `${url.replace("http", "ws")}/comet/Comet/Subscribe`;
const deadline = Date.now() + seconds * 1000;
const rooms = 40;
const pick = (n: number) => Math.floor(Math.random() * n);

const tokens: string[] = await Promise.all(
  Array.from({ length: clients }, (_, i) =>
    new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setIssuer("io.goeasy")
      .setSubject(`soak-${i}`)
      .setExpirationTime("1h")
      .sign(secret),
  ),
);

const totals = { connects: 0, closesByServer: 0, pushes: 0, joins: 0, unexpected: 0 };
const unexpectedCodes: number[] = [];

async function life(i: number): Promise<void> {
  while (Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const ws = new WebSocket(wsUrl);
      let closing = false;
      ws.onopen = () => {
        totals.connects++;
        ws.send(JSON.stringify({ t: "AUTH", auth: { token: tokens[i] }, join: { rid: `room-${pick(rooms)}` } }));
        const stay = 200 + pick(1500);
        const moves = setInterval(() => {
          if (ws.readyState !== WebSocket.OPEN) return;
          const r = Math.random();
          if (r < 0.4) ws.send(JSON.stringify({ t: "JOIN", join: { rid: r < 0.1 ? "" : `room-${pick(rooms)}` } }));
          else ws.send('{"t":"HB"}');
          totals.joins++;
        }, 150);
        setTimeout(() => {
          clearInterval(moves);
          closing = true;
          ws.close();
        }, stay);
      };
      ws.onmessage = () => totals.pushes++;
      ws.onclose = (e) => {
        if (!closing) {
          totals.closesByServer++;
          if (e.code !== 4409) {
            totals.unexpected++;
            unexpectedCodes.push(e.code);
          }
        }
        resolve();
      };
      ws.onerror = () => {};
    });
  }
}

async function publisher(): Promise<number> {
  let sent = 0;
  while (Date.now() < deadline) {
    const body =
      Math.random() < 0.5
        ? { uid: `soak-${pick(clients)}`, evt: `p${sent}` }
        : { rid: Math.random() < 0.1 ? "" : `room-${pick(rooms)}`, evt: `b${sent}` };
    const method = "uid" in body ? "Publish" : "Broadcast";
    const res = await fetch(`${url}/comet/Comet/${method}`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}` },
      body: JSON.stringify(body),
    });
    if (res.status !== 200) totals.unexpected++;
    await res.arrayBuffer();
    sent++;
    await Bun.sleep(5);
  }
  return sent;
}

const [published] = await Promise.all([publisher(), ...Array.from({ length: clients }, (_, i) => life(i))]);
console.log(JSON.stringify({ ...totals, published, unexpectedCodes: unexpectedCodes.slice(0, 10) }));
