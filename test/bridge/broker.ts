/**
 * A real MQTT broker for the bridge tests, one process per test file, on a free port of 127.0.0.1:
 * Mosquitto where it is installed, else aedes in a process of its own (aedes-broker.ts).
 * COMET_TEST_BROKER=mosquitto|aedes chooses. Killing and restarting it on the same port is real.
 */
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { connectAsync } from "mqtt";

export type BrokerKind = "mosquitto" | "aedes";

export interface BrokerOptions {
  /** A port to take (to start a broker where a comet instance already looks for one). */
  port?: number;
  /** Connections without a user name are refused until allowAnonymous(). Default true. */
  anonymous?: boolean;
  users?: Record<string, string>;
  /** A TLS listener with the certificate in test/bridge/tls (mqtts://). */
  tls?: boolean;
  /** A WebSocket listener (ws://); always aedes, as Mosquitto's WebSocket support varies by build. */
  ws?: boolean;
  /** Mosquitto only (the start fails without it): this file as its acl_file. */
  aclFile?: string;
  /** Mosquitto only: this file (mosquitto_passwd's) as its password_file, instead of one made from users. */
  passwordFile?: string;
}

/** A user every broker started by these tests knows, for observers that must get in first. */
export const OBSERVER = { username: "observer", password: "observer-pw" };

const TLS_DIR = join(import.meta.dir, "tls");
export const CA_FILE = join(TLS_DIR, "ca.pem");

function mosquittoPath(): string | undefined {
  const path = `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin`;
  return Bun.which("mosquitto", { PATH: path }) ?? undefined;
}

function chooseKind(): { kind: BrokerKind; path?: string } {
  const want = process.env.COMET_TEST_BROKER;
  if (want === "aedes") return { kind: "aedes" };
  const path = mosquittoPath();
  if (path) return { kind: "mosquitto", path };
  if (want === "mosquitto") throw new Error("COMET_TEST_BROKER=mosquitto, but no mosquitto on PATH or in /usr/sbin");
  return { kind: "aedes" };
}

const announced = new Set<string>();

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const addr = srv.address();
  await new Promise<void>((r) => srv.close(() => r()));
  return typeof addr === "object" && addr ? addr.port : 0;
}

/** `user:$6$salt$hash` (salted SHA-512), a format Mosquitto 2 reads, made without mosquitto_passwd. */
function passwordLine(user: string, password: string): string {
  const salt = randomBytes(12);
  const hash = createHash("sha512").update(password).update(salt).digest("base64");
  return `${user}:$6$${salt.toString("base64")}$${hash}`;
}

export class TestBroker {
  private proc: Subprocess | undefined;
  private anonymous: boolean;
  private readonly dir: string;
  private readonly users: Record<string, string>;

  private constructor(
    readonly kind: BrokerKind,
    private readonly path: string | undefined,
    readonly port: number,
    private readonly opts: BrokerOptions,
  ) {
    this.anonymous = opts.anonymous ?? true;
    this.users = { ...opts.users, [OBSERVER.username]: OBSERVER.password };
    this.dir = mkdtempSync(join(tmpdir(), "comet-broker-"));
    // Mosquitto started as root drops to its own user, which must still read these files.
    chmodSync(this.dir, 0o755);
  }

  static async start(opts: BrokerOptions = {}): Promise<TestBroker> {
    const chosen = opts.ws ? { kind: "aedes" as const } : chooseKind();
    if ((opts.aclFile || opts.passwordFile) && chosen.kind !== "mosquitto") {
      throw new Error(
        "this test needs Mosquitto (an ACL or password file of its own): install it (apt-get install mosquitto; .ci/run does), and leave COMET_TEST_BROKER unset",
      );
    }
    const b = new TestBroker(chosen.kind, chosen.path, opts.port ?? (await freePort()), opts);
    const line = `bridge tests: broker = ${chosen.kind}${chosen.path ? ` (${chosen.path})` : " (aedes-broker.ts)"}${opts.ws ? " over WebSocket" : opts.tls ? " over TLS" : ""}`;
    if (!announced.has(line)) {
      announced.add(line);
      console.log(line);
    }
    await b.launch();
    return b;
  }

  get url(): string {
    const scheme = this.opts.ws ? "ws" : this.opts.tls ? "mqtts" : "mqtt";
    return `${scheme}://127.0.0.1:${this.port}`;
  }

  private writeMosquittoConfig(): string {
    const pw = join(this.dir, "passwords");
    // Copies, as the TLS files below, that the mosquitto user can read.
    const passwords = this.opts.passwordFile
      ? readFileSync(this.opts.passwordFile, "utf8")
      : `${Object.entries(this.users)
          .map(([u, p]) => passwordLine(u, p))
          .join("\n")}\n`;
    writeFileSync(pw, passwords, { mode: 0o644 });
    const lines = [
      `listener ${this.port} 127.0.0.1`,
      `allow_anonymous ${this.anonymous}`,
      `password_file ${pw}`,
      "persistence false",
      `log_dest file ${join(this.dir, "mosquitto.log")}`,
    ];
    if (this.opts.aclFile) {
      const acl = join(this.dir, "acl");
      writeFileSync(acl, readFileSync(this.opts.aclFile), { mode: 0o644 });
      lines.push(`acl_file ${acl}`);
    }
    if (this.opts.tls) {
      // Copies that the mosquitto user can read, whatever the checkout's modes.
      for (const f of ["server.pem", "server-key.pem"]) {
        writeFileSync(join(this.dir, f), readFileSync(join(TLS_DIR, f)), { mode: 0o644 });
      }
      lines.push(`certfile ${join(this.dir, "server.pem")}`, `keyfile ${join(this.dir, "server-key.pem")}`);
    }
    const conf = join(this.dir, "mosquitto.conf");
    writeFileSync(conf, `${lines.join("\n")}\n`, { mode: 0o644 });
    return conf;
  }

  private async launch(): Promise<void> {
    if (this.kind === "mosquitto") {
      this.proc = Bun.spawn([this.path as string, "-c", this.writeMosquittoConfig()], {
        stdout: "ignore",
        stderr: "pipe",
      });
    } else {
      const o = {
        port: this.port,
        anonymous: this.anonymous,
        users: this.users,
        ws: this.opts.ws,
        tls: this.opts.tls ? { cert: join(TLS_DIR, "server.pem"), key: join(TLS_DIR, "server-key.pem") } : undefined,
      };
      this.proc = Bun.spawn([process.execPath, join(import.meta.dir, "aedes-broker.ts"), JSON.stringify(o)], {
        stdout: "ignore",
        stderr: "pipe",
      });
    }
    const proc = this.proc;
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(this.port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        proc.kill();
        const stderr = await new Response(proc.stderr as ReadableStream).text();
        throw new Error(`the ${this.kind} broker did not start on port ${this.port}:\n${stderr}${this.logText()}`);
      }
      await Bun.sleep(20);
    }
  }

  private logText(): string {
    try {
      return readFileSync(join(this.dir, "mosquitto.log"), "utf8");
    } catch {
      return "(no log)";
    }
  }

  /** SIGKILL, as a crash: no goodbye to any client. Resolves once the process is gone. */
  async kill(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p) return;
    p.kill("SIGKILL");
    await p.exited;
  }

  /** SIGSTOP: connections stay open but nothing is read, as with a broker that hangs. */
  pause(): void {
    this.proc?.kill("SIGSTOP");
  }

  resume(): void {
    this.proc?.kill("SIGCONT");
  }

  /** Starts it again on the same port; anonymous clients refused when told so. */
  async restart(opts: { anonymous?: boolean } = {}): Promise<void> {
    await this.kill();
    this.anonymous = opts.anonymous ?? this.opts.anonymous ?? true;
    await this.launch();
  }

  /** Lifts the refusal of anonymous clients (a config reload) and resolves once one gets in. */
  async allowAnonymous(): Promise<void> {
    this.anonymous = true;
    if (this.kind === "mosquitto") this.writeMosquittoConfig();
    this.proc?.kill("SIGHUP");
    const deadline = Date.now() + 5000;
    for (;;) {
      try {
        const c = await connectAsync(this.url, { reconnectPeriod: 0, connectTimeout: 1000, ca: this.ca() });
        await c.endAsync();
        return;
      } catch (err) {
        if (Date.now() > deadline) throw new Error(`anonymous clients still refused: ${(err as Error).message}`);
        await Bun.sleep(20);
      }
    }
  }

  ca(): Buffer | undefined {
    return this.opts.tls ? readFileSync(CA_FILE) : undefined;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ port, host: "127.0.0.1" });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}
