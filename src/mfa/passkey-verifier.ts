import type { EntityManager } from "@mikro-orm/core";
import type { ClientInfo } from "../auth/sessions";

/** A WebAuthn assertion as `PasskeyResponseInput` carries it. */
export interface PasskeyAssertion {
  challengeId: string;
  /** AuthenticationResponseJSON. */
  response: Record<string, unknown>;
}

/**
 * The hook through which `verifyMfa({passkey})` and `reauthenticate({passkey})`
 * check a passkey (BEHAVIOUR.md §8). The passkeys service implements it and
 * is passed to `MfaSignIn` and `Reauthentication` (services.ts); until then
 * both answer BAD_USER_INPUT (`field: "passkey"`).
 */
export interface PasskeyVerifier {
  /**
   * Verifies `assertion` against the challenge it names (issued by
   * `startPasskeyMfa` for verifyMfa, `startPasskeySignIn` for
   * reauthenticate), consuming that challenge, and requires the credential to
   * be one of `userId`'s. Returns the amr it proves (`["hwk"]`, `["swk"]`…),
   * or null when it does not verify (the caller counts a wrong attempt).
   */
  verifyAssertion(
    em: EntityManager,
    userId: string,
    assertion: PasskeyAssertion,
    purpose: "mfa" | "reauthenticate",
    context: {
      /** For "mfa": the MFA challenge's id, which `startPasskeyMfa` bound the ceremony to. */
      binding?: string;
      client: ClientInfo;
    },
  ): Promise<string[] | null>;

  /**
   * Starts the ceremony `verifyMfa({passkey})` finishes: for `userId`'s
   * passkeys, bound to the MFA challenge `binding`. NOT_FOUND when the user
   * has none.
   */
  startMfaCeremony(
    em: EntityManager,
    userId: string,
    binding: string,
  ): Promise<{ challengeId: string; options: Record<string, unknown> }>;
}
