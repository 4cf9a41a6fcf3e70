/**
 * Orchestrator ↔ generator control: one JSON object per line, requests on the child's stdin and
 * replies on its stdout, matched by id. The child exits when its stdin closes (its parent died).
 */
import type { Subprocess } from "bun";

export type Request = { id: number; cmd: string } & Record<string, unknown>;
export type Reply = { id: number; ok: boolean; error?: string; result?: Record<string, unknown> };

export class Channel {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (r: Record<string, unknown>) => void; reject: (e: Error) => void }
  >();
  private exited = false;

  constructor(
    readonly proc: Subprocess<"pipe", "pipe", "inherit">,
    readonly name: string,
  ) {
    void this.readLoop();
    void proc.exited.then((code) => {
      this.exited = true;
      for (const w of this.waiting.values()) w.reject(new Error(`${name} exited (${code}) before replying`));
      this.waiting.clear();
    });
  }

  private async readLoop(): Promise<void> {
    const dec = new TextDecoder();
    let buf = "";
    for await (const chunk of this.proc.stdout) {
      buf += dec.decode(chunk, { stream: true });
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (!line.trim()) continue;
        let r: Reply;
        try {
          r = JSON.parse(line) as Reply;
        } catch {
          process.stderr.write(`${this.name}: ${line}\n`);
          continue;
        }
        const w = this.waiting.get(r.id);
        if (!w) continue;
        this.waiting.delete(r.id);
        if (r.ok) w.resolve(r.result ?? {});
        else w.reject(new Error(`${this.name}: ${r.error}`));
      }
    }
  }

  call<T = Record<string, unknown>>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
      this.proc.stdin.flush();
    });
  }
}

/** The child side: reads requests from stdin, answers each with the handler's result. */
export async function serveRequests(
  handle: (req: Request) => Promise<Record<string, unknown>> | Record<string, unknown>,
): Promise<void> {
  const reply = (r: Reply) => process.stdout.write(`${JSON.stringify(r)}\n`);
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of Bun.stdin.stream()) {
    buf += dec.decode(chunk, { stream: true });
    let nl = buf.indexOf("\n");
    while (nl >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      nl = buf.indexOf("\n");
      if (!line.trim()) continue;
      const req = JSON.parse(line) as Request;
      Promise.resolve()
        .then(() => handle(req))
        .then(
          (out) => reply({ id: req.id, ok: true, result: out }),
          (err: unknown) => reply({ id: req.id, ok: false, error: String((err as Error)?.stack ?? err) }),
        );
    }
  }
  process.exit(0);
}
