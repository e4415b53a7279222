/**
 * BEHAVIOUR.md §9, the security decisions of a provider sign-in and of a
 * link, as pure functions (tested as tables in
 * tests/unit/account-resolution.test.ts). The classic mistake they exist to
 * prevent: signing into an existing account because a provider *claims* its
 * email. An email proves nothing unless the provider verified it, and the
 * account's own address was proved too (else the account may belong to
 * someone who typed another person's address, or the provider account to
 * someone who did).
 */

/** Who the provider says the person is. `email` is normalised, or null when it gave none (or none usable). */
export interface ProviderIdentity {
  provider: string;
  /** The provider's stable id for the person (`sub`, GitHub's numeric id). */
  subject: string;
  email: string | null;
  emailVerified: boolean;
}

export type SignInDecision =
  /** The identity is linked: its user signs in, whatever the email says now. */
  | { action: "sign-in"; userId: string }
  /** Both sides proved the same address: link the identity to that account and sign in. */
  | { action: "link-and-sign-in"; userId: string }
  /** No account has the address: a new, password-less one. */
  | { action: "create" }
  | { action: "refuse"; reason: "ACCOUNT_EXISTS" | "SIGN_UP_DISABLED" | "NO_EMAIL" };

export interface SignInFacts {
  /** The user the identity is linked to, if any. */
  linkedUserId: string | null;
  /** The account whose email equals the provider's, if any. */
  sameEmail: { id: string; emailVerified: boolean } | null;
  identity: Pick<ProviderIdentity, "email" | "emailVerified">;
  /** OAUTH_ALLOW_SIGN_UP. */
  allowSignUp: boolean;
}

export function decideSignIn(facts: SignInFacts): SignInDecision {
  if (facts.linkedUserId !== null) return { action: "sign-in", userId: facts.linkedUserId };
  if (facts.sameEmail !== null) {
    return facts.identity.emailVerified && facts.sameEmail.emailVerified
      ? { action: "link-and-sign-in", userId: facts.sameEmail.id }
      : { action: "refuse", reason: "ACCOUNT_EXISTS" };
  }
  // Every account has an email (the key of password login, reset and notices).
  if (facts.identity.email === null) return { action: "refuse", reason: "NO_EMAIL" };
  if (!facts.allowSignUp) return { action: "refuse", reason: "SIGN_UP_DISABLED" };
  return { action: "create" };
}

export type LinkDecision =
  | { action: "link" }
  /** Linked to this user already: nothing to do, the same answer again. */
  | { action: "already-linked" }
  | { action: "refuse"; reason: "ACCOUNT_EXISTS" };

/**
 * Linking is done by a signed-in user who just proved the identity at the
 * provider, so the email does not matter; only whose the identity already is.
 */
export function decideLink(linkedUserId: string | null, callerId: string): LinkDecision {
  if (linkedUserId === null) return { action: "link" };
  return linkedUserId === callerId ? { action: "already-linked" } : { action: "refuse", reason: "ACCOUNT_EXISTS" };
}

/** The ways a user can sign in besides the identity about to be unlinked. */
export interface RemainingMethods {
  password: boolean;
  passkeys: number;
  /** Linked identities, counting the one to be removed. */
  linkedAccounts: number;
}

/** Unlinking must leave a way to sign in: a password, a passkey or another linked identity. */
export function mayUnlink(methods: RemainingMethods): boolean {
  return methods.password || methods.passkeys > 0 || methods.linkedAccounts > 1;
}
