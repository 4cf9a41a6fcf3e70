/**
 * The supervisor checks each port before the workers bind it: a port already held, even by a
 * process that set SO_REUSEPORT, fails here, since this probe does not set it (the workers would
 * otherwise share it with that process without a word). Port 0 is not settled here: a port bound
 * and released could be taken before a worker binds it; worker 1 binds it and tells the others.
 */
import { showAddress } from "../util/address.ts";
import net from "node:net";
import { ListenError } from "../errors.ts";
import type { Listen } from "../config/schema.ts";

/** Binds each address and lets it go; rejects with the ListenError of the first that cannot be bound. */
export async function checkFree(wanted: ReadonlyArray<[key: string, at: Listen]>): Promise<void> {
  const probes: net.Server[] = [];
  try {
    for (const [key, at] of wanted) {
      const server = net.createServer();
      const where = showAddress(at.host, at.port);
      try {
        await new Promise<void>((resolve, reject) => {
          server.once("error", reject);
          server.listen({ host: at.host, port: at.port }, () => resolve());
        });
      } catch (err) {
        throw ListenError.from(key, where, err);
      }
      probes.push(server);
    }
  } finally {
    await Promise.all(probes.map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
  }
}

export const showListen = (at: Listen): string => showAddress(at.host, at.port);
