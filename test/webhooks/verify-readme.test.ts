/**
 * The README's webhook verify helpers, as they stand there, run by Node and Python on real
 * webhook requests of a real server: a genuine request passes; a changed body, another secret, or
 * a timestamp too old fails.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "../bridge/util.ts";
import { connect, startTest, type TestServer } from "../helpers.ts";
import { ROOT } from "../support/runtime.ts";
import { Receiver } from "./receiver.ts";

const SECRET = "readme-verify-secret-0123456";
let server: TestServer;
let receiver: Receiver;
const dir = mkdtempSync(join(tmpdir(), "comet-verify-"));

/** The fenced block of the README whose first line starts with `first`. */
function readmeBlock(lang: string, first: string): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(new RegExp(`\`\`\`${lang}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1] as string);
  const block = blocks.find((b) => b.startsWith(first));
  if (!block) throw new Error(`README.md has no \`\`\`${lang} block starting with ${JSON.stringify(first)}`);
  return block;
}

interface Case {
  secret: string;
  body: string;
  header: string;
}

beforeAll(async () => {
  receiver = new Receiver();
  server = await startTest(`
webhooks:
  - {url: "${receiver.url}", events: [ONLINE, OFFLINE, presence.ONLINE, presence.OFFLINE], secret: "${SECRET}"}
`);
  writeFileSync(join(dir, "verify.mjs"), readmeBlock("js", "// verify.mjs"));
  writeFileSync(join(dir, "verify.py"), readmeBlock("python", "# verify.py"));
  writeFileSync(
    join(dir, "driver.mjs"),
    `import { readFileSync } from "node:fs";
import { verify } from "./verify.mjs";
const cases = JSON.parse(readFileSync(process.argv[2], "utf8"));
console.log(JSON.stringify(cases.map((c) => verify(c.secret, Buffer.from(c.body, "utf8"), c.header))));
`,
  );
  writeFileSync(
    join(dir, "driver.py"),
    `import json, sys
from verify import verify
cases = json.load(open(sys.argv[1], encoding="utf-8"))
print(json.dumps([verify(c["secret"], c["body"].encode("utf-8"), c["header"]) for c in cases]))
`,
  );
  const c = await connect(server, "verified 😀");
  c.close();
  await c.closed;
  await waitFor(() => receiver.events().length >= 4, "four webhook events");
});

afterAll(async () => {
  await server?.stop();
  receiver?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** For each real request: genuine, body changed, another secret, and re-signed an hour ago. */
function cases(): { list: Case[]; want: boolean[] } {
  const list: Case[] = [];
  const want: boolean[] = [];
  const old = Math.floor(Date.now() / 1000) - 3600;
  const oldSig = (body: string) => createHmac("sha256", SECRET).update(`${old}.${body}`).digest("hex");
  for (const p of receiver.acknowledged()) {
    const header = p.signature as string;
    list.push(
      { secret: SECRET, body: p.body, header },
      { secret: SECRET, body: p.body.replace("verified", "forged"), header },
      { secret: "another-secret-0123456789", body: p.body, header },
      { secret: SECRET, body: p.body, header: `t=${old},v1=${oldSig(p.body)}` },
    );
    want.push(true, false, false, false);
  }
  expect(list.length).toBeGreaterThanOrEqual(4);
  return { list, want };
}

async function runDriver(argv: string[]): Promise<unknown> {
  const proc = Bun.spawn(argv, { cwd: dir, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}: ${err}`);
  return JSON.parse(out);
}

test("the README's Node verify accepts the server's requests and refuses a changed body, another secret, an old timestamp", async () => {
  const { list, want } = cases();
  writeFileSync(join(dir, "node-cases.json"), JSON.stringify(list));
  expect(await runDriver(["node", "driver.mjs", "node-cases.json"])).toEqual(want);
});

test("the README's Python verify does the same", async () => {
  const python = Bun.which("python3");
  if (!python) throw new Error("python3 is needed to run the README's Python helper");
  const { list, want } = cases();
  writeFileSync(join(dir, "py-cases.json"), JSON.stringify(list));
  expect(await runDriver([python, "driver.py", "py-cases.json"])).toEqual(want);
});
