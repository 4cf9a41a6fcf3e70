import { afterAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { credentials } from "@grpc/grpc-js";
import { type CometClient, call, grpcClient, startGrpcTest, subscribe } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "comet-grpc-tls-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("with tls.cert_file and tls.key_file, gRPC is served over TLS with the same certificate", async () => {
  const cert = join(dir, "cert.pem");
  const key = join(dir, "key.pem");
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost"],
      ...["-addext", "subjectAltName=DNS:localhost"],
    ],
    { stdio: "ignore" },
  );
  const server = await startGrpcTest(`tls: {cert_file: ${cert}, key_file: ${key}}`);
  const plain = grpcClient(server);
  // By name: Bun's TLS refuses an IP address as the server name that grpc-js would send.
  const secure = new (Object.getPrototypeOf(plain).constructor)(
    `localhost:${server.grpcPort}`,
    credentials.createSsl(readFileSync(cert)),
  ) as CometClient;
  try {
    const s = await subscribe(server, secure, "tls-grpc");
    expect((await call(secure, "Publish", { uid: "tls-grpc", evt: "over tls" })).err).toBeNull();
    expect(await s.waitPushes(1)).toEqual(["over tls"]);
    s.call.end();
    // A plaintext client gets no service from the TLS port.
    expect((await call(plain, "DumpSession", {})).err?.code).toBe(14);
  } finally {
    plain.close();
    secure.close();
    await server.stop();
  }
});
