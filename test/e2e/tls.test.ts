import { afterAll, describe, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTest, token, waitFor } from "../helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh P-256 key and its self-signed certificate for 127.0.0.1, as files. */
function keyPair(name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      key,
      "-out",
      cert,
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

describe("TLS", () => {
  test("tls.cert_file and tls.key_file serve https and wss", async () => {
    const { cert, key } = keyPair("good");
    const server = await startTest(`tls: {cert_file: ${cert}, key_file: ${key}}`);
    try {
      expect(server.url.startsWith("https://")).toBe(true);
      const health = await fetch(`${server.url}/healthz`, { tls: { rejectUnauthorized: false } } as RequestInit);
      expect(health.status).toBe(200);
      const ws = new WebSocket(`${server.url.replace("https", "wss")}/comet/Comet/Subscribe`, {
        tls: { rejectUnauthorized: false },
      } as never);
      await new Promise((r, j) => {
        ws.onopen = r;
        ws.onerror = j;
      });
      ws.send(JSON.stringify({ t: "AUTH", auth: { token: await token("tls-user") } }));
      await waitFor(() => server.hub.sessions.has("tls-user"));
      ws.close();
    } finally {
      await server.stop();
    }
  });

  test("only one of the two TLS files is a start-up error", async () => {
    await expect(startTest("tls: {cert_file: /x.pem}")).rejects.toThrow(
      "config: tls.key_file: empty, but tls.cert_file is set: set both",
    );
    await expect(startTest("tls: {key_file: /x.pem}")).rejects.toThrow("config: tls.cert_file: empty");
  });

  test("a key that is not the certificate's stops the start, naming tls.key_file", async () => {
    const a = keyPair("a");
    const b = keyPair("b");
    await expect(startTest(`tls: {cert_file: ${a.cert}, key_file: ${b.key}}`)).rejects.toThrow(
      `tls.key_file: ${b.key} is not the private key of the certificate in tls.cert_file (${a.cert})`,
    );
  });

  test("in a chain, the key is checked against the first certificate, the server's own", async () => {
    const leaf = keyPair("leaf");
    const other = keyPair("other");
    const chain = join(dir, "chain.pem");
    writeFileSync(chain, readFileSync(leaf.cert, "utf8") + readFileSync(other.cert, "utf8"));
    const server = await startTest(`tls: {cert_file: ${chain}, key_file: ${leaf.key}}`);
    await server.stop();
    await expect(startTest(`tls: {cert_file: ${chain}, key_file: ${other.key}}`)).rejects.toThrow("tls.key_file");
  });

  test("files that hold no key or no certificate stop the start, naming which", async () => {
    const { cert, key } = keyPair("swapped");
    await expect(startTest(`tls: {cert_file: ${cert}, key_file: ${cert}}`)).rejects.toThrow(
      `tls.key_file: ${cert} is not a PEM private key`,
    );
    await expect(startTest(`tls: {cert_file: ${key}, key_file: ${key}}`)).rejects.toThrow(
      `tls.cert_file: ${key} is not a PEM certificate`,
    );
  });
});
