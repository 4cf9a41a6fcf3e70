/**
 * A minimal MQTT 3.1.1 publisher (CONNECT, then QoS 0 PUBLISH) on a raw TCP socket, so that the
 * broker and the bridge are what is measured, not the client library's per-message cost.
 */
import { nowUs } from "./clock.ts";

function remainingLength(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function str(s: string): Buffer {
  const b = Buffer.from(s);
  const out = Buffer.alloc(2 + b.length);
  out.writeUInt16BE(b.length, 0);
  b.copy(out, 2);
  return out;
}

export function connectPacket(clientId: string): Buffer {
  const vh = Buffer.concat([str("MQTT"), Buffer.from([4, 0x02, 0, 60])]);
  const payload = str(clientId);
  const rest = Buffer.concat([vh, payload]);
  return Buffer.concat([Buffer.from([0x10, ...remainingLength(rest.length)]), rest]);
}

export function publishPacket(topic: string, payload: string): Buffer {
  const t = str(topic);
  const p = Buffer.from(payload);
  return Buffer.concat([Buffer.from([0x30, ...remainingLength(t.length + p.length)]), t, p]);
}

export interface MqttJob {
  host: string;
  port: number;
  topic: string;
  count: number;
  /** Events per second; 0 = as fast as the socket drains. */
  rate: number;
  payload: (i: number, tUs: number) => string;
}

export async function runMqttPublish(job: MqttJob): Promise<{ sent: number; t0_us: number; t1_us: number }> {
  let connack: () => void = () => {};
  const acked = new Promise<void>((r) => {
    connack = r;
  });
  let drained: () => void = () => {};
  let pending: Buffer | null = null;
  const sock = await Bun.connect({
    hostname: job.host,
    port: job.port,
    socket: {
      data(_s, d) {
        if (d[0] === 0x20) connack();
      },
      drain(s) {
        if (pending) {
          const n = s.write(pending);
          pending = n < pending.length ? pending.subarray(Math.max(0, n)) : null;
        }
        if (!pending) drained();
      },
      close() {
        drained();
      },
    },
  });
  sock.setNoDelay(true);
  sock.write(connectPacket(`comet-bench-${process.pid}`));
  await acked;
  const t0 = nowUs();
  let sent = 0;
  const batch = 100;
  while (sent < job.count) {
    if (job.rate > 0) {
      const due = Math.min(job.count, Math.floor(((nowUs() - t0) * job.rate) / 1e6) + 1);
      if (due <= sent) {
        await Bun.sleep(1);
        continue;
      }
    }
    const n = Math.min(batch, job.count - sent);
    const parts: Buffer[] = [];
    const t = nowUs();
    for (let k = 0; k < n; k++) parts.push(publishPacket(job.topic, job.payload(sent + k, t)));
    sent += n;
    const buf = Buffer.concat(parts);
    const w = sock.write(buf);
    if (w < buf.length) {
      pending = buf.subarray(Math.max(0, w));
      await new Promise<void>((r) => {
        drained = r;
      });
    } else if (sent % 2000 === 0) await Bun.sleep(0);
  }
  const t1 = nowUs();
  sock.write(Buffer.from([0xe0, 0])); // DISCONNECT
  sock.end();
  return { sent, t0_us: t0, t1_us: t1 };
}
