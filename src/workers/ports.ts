/**
 * The supervisor settles each port before the workers bind it: port 0 becomes one free port that
 * all of them share (each would get its own otherwise), and a port already held, even by a
 * process that set SO_REUSEPORT, fails here, since this probe does not set it.
 */
import net from "node:net";
import { ListenError } from "../errors.ts";
import type { Listen } from "../config/schema.ts";

export async function settlePort(key: string, at: Listen): Promise<Listen> {
  const server = net.createServer();
  const where = `${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen({ host: at.host, port: at.port }, () => resolve());
    });
  } catch (err) {
    throw ListenError.from(key, where, err);
  }
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return { host: at.host, port };
}

export const showListen = (at: Listen): string => `${at.host.includes(":") ? `[${at.host}]` : at.host}:${at.port}`;
