/**
 * A private RabbitMQ node with its MQTT plugin, for the tests of the documented permissions
 * (docs/brokers/). Everything is its own: node name, directories, Erlang cookie, ports and epmd
 * (a child of this process, on a port of its own), so it never meets another node on the machine
 * and leaves nothing behind. Started as the user rabbitmq when the tests run as root, as the
 * packaged service runs. A first start takes 15-20 s (the plugin's Raft election waits 4 s alone):
 * start one node per test file, and early.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { Subprocess } from "bun";
import { freePort } from "./broker.ts";

/** Debian and Ubuntu put the real scripts here; their /usr/sbin ones switch user and redirect output. */
const DEBIAN_BIN = "/usr/lib/rabbitmq/bin";
const SEARCH_PATH = `${process.env.PATH ?? ""}:/usr/sbin:/usr/local/sbin:/usr/lib/erlang/bin`;
const START_MS = 90_000;
const STOP_MS = 15_000;

function rabbitBin(): string {
  if (existsSync(join(DEBIAN_BIN, "rabbitmq-server"))) return DEBIAN_BIN;
  const found = Bun.which("rabbitmq-server", { PATH: SEARCH_PATH });
  if (found) return dirname(found);
  throw new Error(
    "rabbitmq-server is not installed (neither /usr/lib/rabbitmq/bin/rabbitmq-server nor one on PATH): apt-get install rabbitmq-server (.ci/run installs it)",
  );
}

function epmdBin(): string {
  const found = Bun.which("epmd", { PATH: SEARCH_PATH });
  if (found) return found;
  throw new Error("no epmd (Erlang's port mapper, installed with rabbitmq-server) on PATH or in /usr/lib/erlang/bin");
}

/** The user the packaged service runs as: the server drops to it when these tests run as root. */
function serviceUser(): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  return Bun.spawnSync(["id", "-u", "rabbitmq"]).exitCode === 0 ? "rabbitmq" : undefined;
}

function canConnect(port: number): Promise<boolean> {
  return Bun.connect({
    hostname: "127.0.0.1",
    port,
    socket: { data() {}, open() {}, error() {}, connectError() {} },
  }).then(
    (s) => {
      s.end();
      return true;
    },
    () => false,
  );
}

export interface RabbitOptions {
  /** rabbitmq.conf text; the node's listeners are appended to it. */
  conf?: string;
}

export class TestRabbit {
  private server: Subprocess | undefined;
  private epmd: Subprocess | undefined;
  private readonly env: Record<string, string>;
  private readonly bin = rabbitBin();
  private readonly dir: string;
  private readonly killAtExit = () => this.killNow();

  private constructor(
    readonly node: string,
    readonly mqttPort: number,
    private readonly ports: { amqp: number; dist: number; epmd: number },
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "comet-rabbit-"));
    const inherited = Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !/^(RABBITMQ_|ERL_)/.test(e[0]),
    );
    this.env = {
      ...Object.fromEntries(inherited),
      PATH: `${this.bin}:${process.env.PATH ?? ""}`,
      HOME: join(this.dir, "home"),
      RABBITMQ_NODENAME: node,
      RABBITMQ_NODE_IP_ADDRESS: "127.0.0.1",
      RABBITMQ_NODE_PORT: String(ports.amqp),
      RABBITMQ_DIST_PORT: String(ports.dist),
      RABBITMQ_CONFIG_FILE: join(this.dir, "rabbitmq.conf"),
      RABBITMQ_ADVANCED_CONFIG_FILE: join(this.dir, "advanced.config"),
      RABBITMQ_CONF_ENV_FILE: join(this.dir, "rabbitmq-env.conf"),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.dir, "enabled_plugins"),
      RABBITMQ_MNESIA_BASE: join(this.dir, "mnesia"),
      RABBITMQ_LOG_BASE: join(this.dir, "log"),
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
      ERL_EPMD_PORT: String(ports.epmd),
      ERL_EPMD_ADDRESS: "127.0.0.1",
    };
  }

  /** Starts a node and resolves once its MQTT listener takes connections. */
  static async start(opts: RabbitOptions = {}): Promise<TestRabbit> {
    const [amqp, dist, epmd, mqtt] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const r = new TestRabbit(`comet-test-${randomBytes(4).toString("hex")}@localhost`, mqtt, { amqp, dist, epmd });
    try {
      await r.launch(opts.conf ?? "");
    } catch (err) {
      await r.stop();
      throw err;
    }
    return r;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  private async launch(conf: string): Promise<void> {
    process.once("exit", this.killAtExit);
    for (const d of ["home", "mnesia", "log"]) mkdirSync(join(this.dir, d));
    const cookie = join(this.dir, "home", ".erlang.cookie");
    writeFileSync(cookie, randomBytes(20).toString("hex").toUpperCase());
    chmodSync(cookie, 0o400);
    writeFileSync(this.env.RABBITMQ_CONF_ENV_FILE as string, "");
    writeFileSync(
      this.env.RABBITMQ_CONFIG_FILE as string,
      `${conf}\n# the test node's own\nmqtt.listeners.tcp.default = 127.0.0.1:${this.mqttPort}\n`,
    );

    // Its own epmd, ended with the node: the one Erlang would start (epmd -daemon) outlives it.
    this.epmd = Bun.spawn([epmdBin(), "-port", String(this.ports.epmd), "-address", "127.0.0.1"], {
      env: this.env,
      stdout: "ignore",
      stderr: "ignore",
    });
    await this.waitPort(this.ports.epmd, this.epmd, "epmd", 10_000);

    await this.run(["rabbitmq-plugins", "--offline", "enable", "rabbitmq_mqtt"]);

    const user = serviceUser();
    if (user) Bun.spawnSync(["chown", "-R", `${user}:${user}`, this.dir]);
    const server = join(this.bin, "rabbitmq-server");
    const argv = user ? ["setpriv", "--reuid", user, "--regid", user, "--init-groups", server] : [server];
    this.server = Bun.spawn(argv, {
      cwd: this.dir,
      env: this.env,
      stdin: "ignore",
      stdout: Bun.file(join(this.dir, "log", "stdout.log")),
      stderr: Bun.file(join(this.dir, "log", "stderr.log")),
    });
    await this.waitPort(this.mqttPort, this.server, `RabbitMQ node ${this.node} (its MQTT listener)`, START_MS);
  }

  private async waitPort(port: number, proc: Subprocess, what: string, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await canConnect(port))) {
      if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
        const why = proc.exitCode !== null ? `it exited with ${proc.exitCode}` : `not listening after ${ms} ms`;
        throw new Error(`${what} did not start on port ${port}: ${why}\n${this.logTail()}`);
      }
      await Bun.sleep(50);
    }
  }

  private logTail(): string {
    const logs = ["stdout.log", "stderr.log", `${this.node}.log`].map((f) => {
      try {
        return `--- ${f}\n${readFileSync(join(this.dir, "log", f), "utf8").slice(-3000)}`;
      } catch {
        return `--- ${f}: none`;
      }
    });
    return logs.join("\n");
  }

  /** A command of RabbitMQ's (rabbitmqctl, rabbitmq-plugins, or a script that calls them) against this node. */
  async run(argv: string[], env: Record<string, string> = {}): Promise<string> {
    const [cmd = "", ...args] = argv;
    const own = join(this.bin, cmd);
    const proc = Bun.spawn([existsSync(own) ? own : cmd, ...args], {
      cwd: this.dir,
      env: { ...this.env, ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, err] = await Promise.all([
      proc.exited,
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
    ]);
    if (code !== 0) throw new Error(`${argv.join(" ")} exited with ${code}:\n${out}${err}`);
    return out;
  }

  /** The Erlang VM's pid, which the node writes once it runs. */
  private beamPid(): number | undefined {
    try {
      const pid = Number(readFileSync(join(this.env.RABBITMQ_MNESIA_BASE as string, `${this.node}.pid`), "utf8"));
      return pid > 0 ? pid : undefined;
    } catch {
      return undefined;
    }
  }

  /** At exit, if stop() never ran: nothing may outlive the tests. */
  private killNow(): void {
    for (const pid of [this.beamPid(), this.server?.pid, this.epmd?.pid]) {
      if (pid === undefined) continue;
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    }
  }

  /** SIGTERM (the start script stops the node cleanly), SIGKILL past a deadline; then epmd; then the files. */
  async stop(): Promise<void> {
    process.removeListener("exit", this.killAtExit);
    const server = this.server;
    this.server = undefined;
    if (server && server.exitCode === null && server.signalCode === null) {
      const beam = this.beamPid();
      server.kill("SIGTERM");
      const stopped = await Promise.race([server.exited.then(() => true), Bun.sleep(STOP_MS).then(() => false)]);
      if (!stopped) {
        if (beam !== undefined) {
          try {
            process.kill(beam, "SIGKILL");
          } catch {}
        }
        server.kill("SIGKILL");
        await server.exited;
      }
    }
    this.epmd?.kill("SIGKILL");
    await this.epmd?.exited;
    this.epmd = undefined;
    rmSync(this.dir, { recursive: true, force: true });
  }
}
