/** A real HTTP receiver for webhook tests: records every POST, answers what the test says. */
import type { Server } from "bun";

export interface Received {
  body: string;
  signature: string | null;
  contentType: string | null;
  at: number;
  status: number;
}

export class Receiver {
  readonly posts: Received[] = [];
  /** What to answer next: a status, or "hang" (never answer). */
  answer: number | "hang" = 200;
  private readonly server: Server<undefined>;

  constructor() {
    this.server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (req) => {
        const body = await req.text();
        const answer = this.answer;
        if (answer === "hang") return new Promise<Response>(() => {});
        this.posts.push({
          body,
          signature: req.headers.get("comet-signature"),
          contentType: req.headers.get("content-type"),
          at: Date.now(),
          status: answer,
        });
        return new Response(answer === 200 ? "ok" : "no", { status: answer });
      },
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}/hook`;
  }

  /** Every event acknowledged (2xx answers only), in the order received. */
  events(): Array<Record<string, string>> {
    return this.acknowledged().flatMap((p) => JSON.parse(p.body) as Array<Record<string, string>>);
  }

  acknowledged(): Received[] {
    return this.posts.filter((p) => p.status >= 200 && p.status < 300);
  }

  stop(): void {
    this.server.stop(true);
  }
}
