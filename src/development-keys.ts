import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type AsymmetricAlgorithm, generatePrivateKeyPem } from "./auth/signing-keys";
import type { DevelopmentKeys } from "./config";

/** RFC 7518 §3.2: at least the hash output of HS256; SECRET_KEYS asks the same. */
const SECRET_BYTES = 48;
const MIN_SECRET_BYTES = 32;

/**
 * The development server's generated keys, kept as owner-only files under
 * `dir` (./data) so tokens survive a restart. Each file is created the first
 * time its key is asked for and read afterwards. Only `main.ts` uses this:
 * loading the configuration anywhere else (the CLI, the tests, the bench)
 * never creates ./data.
 */
export function developmentKeyFiles(dir = "./data"): DevelopmentKeys {
  return {
    secret(name) {
      return { secret: keptSecret(resolve(dir, name)), keptIn: `${dir}/${name}` };
    },
    privateKey(algorithm: AsymmetricAlgorithm) {
      const name = `jwt-private-key.${algorithm}.pem`;
      return { pem: keptPrivateKey(resolve(dir, name), algorithm), keptIn: `${dir}/${name}` };
    },
  };
}

function keptSecret(file: string): Buffer {
  if (existsSync(file)) {
    const stored = Buffer.from(readFileSync(file, "utf8").trim(), "base64url");
    if (stored.length >= MIN_SECRET_BYTES) return stored;
  }
  const secret = randomBytes(SECRET_BYTES);
  writeOwnerOnly(file, secret.toString("base64url"));
  return secret;
}

function keptPrivateKey(file: string, algorithm: AsymmetricAlgorithm): string {
  if (existsSync(file)) return readFileSync(file, "utf8");
  const pem = generatePrivateKeyPem(algorithm);
  writeOwnerOnly(file, pem);
  return pem;
}

function writeOwnerOnly(file: string, content: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, content, { mode: 0o600 });
  // `mode` applies only when the file is created; a stale file keeps its own.
  chmodSync(file, 0o600);
}
