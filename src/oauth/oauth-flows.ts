import { createHash, createHmac, randomBytes, randomUUID } from "node:crypto";
import type { EntityManager } from "@mikro-orm/core";
import type { SecretKeys } from "../auth/secret-keys";
import type { Clock } from "../clock";
import type { OAuthStore, StoredFlow } from "../db/stores/oauth-store";
import { transaction } from "../db/transaction";
import { invalidToken } from "../errors";

/** BEHAVIOUR.md §9: a started sign-in may be finished once, within 10 minutes. */
export const FLOW_TTL_SECONDS = 600;

/** What the authorization request carries and the code exchange must repeat. */
export interface FlowSecrets {
  /** 256 random bits: the CSRF token of the redirect (RFC 6749 §10.12). */
  state: string;
  /** RFC 7636: S256 of it goes to the provider, it itself only to the token endpoint. */
  codeVerifier: string;
  /** OpenID Connect Core §3.1.2.1: bound into the ID token, against its replay. */
  nonce: string;
}

export interface TakenFlow extends FlowSecrets {
  flow: StoredFlow;
}

/**
 * Provider sign-ins in progress (`oauth_flows`). The state is random and
 * stored only as its SHA-256. The PKCE verifier and the nonce are derived
 * from the state with HMAC under the "oauth-state" key (SECRET_KEYS), so
 * nothing secret is stored: a copy of the table can finish no sign-in, and
 * a flow started before a key rotation finishes under the key it names.
 */
export class OAuthFlows {
  constructor(
    private readonly store: OAuthStore,
    private readonly keys: SecretKeys,
    private readonly clock: Clock,
  ) {}

  async start(
    em: EntityManager,
    request: { provider: string; redirectUri: string; userId: string | null },
  ): Promise<FlowSecrets> {
    const state = randomBytes(32).toString("base64url");
    const key = this.keys.current("oauth-state");
    const now = this.clock.now();
    await this.store.insertFlow(em, {
      id: randomUUID(),
      stateHash: hashOf(state),
      keyId: key.id.toString("hex"),
      provider: request.provider,
      redirectUri: request.redirectUri,
      userId: request.userId,
      createdAt: now,
      expiresAt: new Date(now.getTime() + FLOW_TTL_SECONDS * 1000),
    });
    return { state, ...derive(key.key, state) };
  }

  /**
   * Uses the flow `state` names, for `provider`: INVALID_TOKEN when it is
   * unknown, used, expired, for another provider or made under a key no
   * longer listed. Used before the code is exchanged, in a transaction of its
   * own: a state is spent even when what follows fails, and of concurrent
   * finishes exactly one gets it.
   */
  async take(em: EntityManager, provider: string, state: string): Promise<TakenFlow> {
    const now = this.clock.now();
    const flow = await this.store.findFlowByStateHash(em, hashOf(state));
    // A flow for another provider is not used up by the attempt: it is still its own provider's.
    if (flow === null || flow.provider !== provider) throw invalidToken();
    const key = this.keys.byId("oauth-state", Buffer.from(flow.keyId, "hex"));
    if (key === undefined) throw invalidToken();
    const won = await transaction(em, (tx) => this.store.consumeFlow(tx, flow.id, now));
    if (!won) throw invalidToken();
    return { flow, state, ...derive(key.key, state) };
  }
}

function hashOf(state: string): string {
  return createHash("sha256").update(state, "utf8").digest("base64url");
}

/** 43 base64url characters each: a valid PKCE verifier (RFC 7636 §4.1) and nonce. */
function derive(key: Buffer, state: string): Omit<FlowSecrets, "state"> {
  const mac = (label: string) => createHmac("sha256", key).update(`${label}\0${state}`).digest("base64url");
  return { codeVerifier: mac("pkce-verifier"), nonce: mac("nonce") };
}
