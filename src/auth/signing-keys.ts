import {
  createHash,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPairSync,
  type JsonWebKey,
  type KeyObject,
} from "node:crypto";

export const ASYMMETRIC_ALGORITHMS = ["ES256", "RS256"] as const;
export type AsymmetricAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];
export type JwtAlgorithm = "HS256" | AsymmetricAlgorithm;

/** A public key as served at /.well-known/jwks.json (RFC 7517). */
export type PublicJwk = JsonWebKey & { kid: string; alg: AsymmetricAlgorithm; use: "sig" };

const MIN_RSA_BITS = 2048;

interface KeyPair {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: PublicJwk;
}

/**
 * The keys access tokens are signed and verified with. HS256: one secret.
 * ES256/RS256: a list of private keys; the first signs, every one verifies
 * (so tokens signed before a rotation keep working until their key is
 * removed), and the public halves are published as a JWKS. Key ids are RFC
 * 7638 thumbprints, so the same key always has the same `kid`.
 */
export class SigningKeys {
  private constructor(
    readonly algorithm: JwtAlgorithm,
    private readonly signer: { key: KeyObject; kid?: string },
    private readonly verifiers: ReadonlyMap<string | undefined, KeyObject>,
    readonly publicJwks: readonly PublicJwk[],
  ) {}

  static hmac(secret: Buffer): SigningKeys {
    const key = createSecretKey(secret);
    return new SigningKeys("HS256", { key }, new Map([[undefined, key]]), []);
  }

  /** Throws an Error saying what is wrong with which key (config reports it). */
  static asymmetric(algorithm: AsymmetricAlgorithm, pems: readonly string[]): SigningKeys {
    if (pems.length === 0) throw new Error("no private key given");
    const pairs = pems.map((pem, index) => keyPair(algorithm, pem, index));
    const first = pairs[0] as KeyPair;
    return new SigningKeys(
      algorithm,
      { key: first.privateKey, kid: first.kid },
      new Map(pairs.map((p) => [p.kid, p.publicKey])),
      pairs.map((p) => p.jwk),
    );
  }

  /** Key and `kid` header for signing. */
  get signing(): { key: KeyObject; kid?: string } {
    return this.signer;
  }

  /**
   * The key that may verify a token with this `kid`: HS256 has one key and
   * ignores kid; asymmetric tokens must name one of the configured keys.
   */
  verificationKey(kid: unknown): KeyObject | undefined {
    if (this.algorithm === "HS256") return this.verifiers.get(undefined);
    return typeof kid === "string" ? this.verifiers.get(kid) : undefined;
  }
}

function keyPair(algorithm: AsymmetricAlgorithm, pem: string, index: number): KeyPair {
  const where = `key ${index + 1}`;
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch {
    throw new Error(`${where} is not a PEM private key`);
  }
  const details = privateKey.asymmetricKeyDetails ?? {};
  if (algorithm === "ES256" && (privateKey.asymmetricKeyType !== "ec" || details.namedCurve !== "prime256v1")) {
    throw new Error(`${where} is not a P-256 EC key, which ES256 needs`);
  }
  if (
    algorithm === "RS256" &&
    (privateKey.asymmetricKeyType !== "rsa" || (details.modulusLength ?? 0) < MIN_RSA_BITS)
  ) {
    throw new Error(`${where} is not an RSA key of at least ${MIN_RSA_BITS} bits, which RS256 needs`);
  }
  const publicKey = createPublicKey(privateKey);
  const exported = publicKey.export({ format: "jwk" });
  const kid = thumbprint(exported);
  return { kid, privateKey, publicKey, jwk: { ...exported, kid, alg: algorithm, use: "sig" } };
}

/** RFC 7638: SHA-256 over the required members, in lexicographic order, without whitespace. */
function thumbprint(jwk: JsonWebKey): string {
  const members =
    jwk.kty === "EC" ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash("sha256").update(JSON.stringify(members)).digest("base64url");
}

/** A new private key for `algorithm`, as PKCS#8 PEM (operator `gen-key`, development start). */
export function generatePrivateKeyPem(algorithm: AsymmetricAlgorithm): string {
  const { privateKey } =
    algorithm === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "prime256v1" })
      : generateKeyPairSync("rsa", { modulusLength: 3072 });
  return privateKey.export({ format: "pem", type: "pkcs8" }).toString();
}

/** The PEM blocks in a variable; `\n` written as two characters (env files) is accepted too. */
export function splitPemKeys(text: string): string[] {
  const normalized = text.replace(/\\n/g, "\n");
  return normalized.match(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----/g) ?? [];
}
