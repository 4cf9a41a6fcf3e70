/**
 * tls.cert_file and tls.key_file, read and checked as a pair. `comet config check` reads them here;
 * src/server.ts has its own copy of these lines for now (it is being restructured) and is to
 * import readTls from here instead.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { ConfigError } from "../errors.ts";
import type { Config } from "./schema.ts";

/** The PEM texts, once both files are read and the key is the certificate's. */
export function readTls(config: Config): { cert: string; key: string } {
  const { cert_file, key_file } = config.tls;
  if (!cert_file || !key_file) {
    const [empty, set] = cert_file ? ["key_file", "cert_file"] : ["cert_file", "key_file"];
    throw new ConfigError(
      `tls.${empty}`,
      `empty, but tls.${set} is set: set both tls.cert_file and tls.key_file, or neither`,
    );
  }
  const read = (key: string, file: string) => {
    try {
      return readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`tls.${key}`, `cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read("cert_file", cert_file);
  const key = read("key_file", key_file);
  checkKeyPair(cert, cert_file, key, key_file);
  return { cert, key };
}

/**
 * Bun and Deno refuse a key that is not the certificate's only once they listen, in their TLS
 * library's words (KEY_VALUES_MISMATCH, KeyMismatch), which name neither file nor key: check
 * first, and say which key to fix.
 */
function checkKeyPair(certPem: string, certFile: string, keyPem: string, keyFile: string): void {
  const parse = <T>(key: string, file: string, what: string, f: () => T): T => {
    try {
      return f();
    } catch (err) {
      throw new ConfigError(`tls.${key}`, `${file} is not ${what}: ${(err as Error).message}`);
    }
  };
  // The first certificate of the chain is the server's own.
  const cert = parse("cert_file", certFile, "a PEM certificate", () => new X509Certificate(certPem));
  const key = parse("key_file", keyFile, "a PEM private key", () => createPrivateKey(keyPem));
  if (!cert.checkPrivateKey(key)) {
    throw new ConfigError(
      "tls.key_file",
      `${keyFile} is not the private key of the certificate in tls.cert_file (${certFile})`,
    );
  }
}
