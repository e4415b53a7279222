import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import type { AuthEventSink } from "../auth/events";
import { assertRecentSignIn } from "../auth/recent-sign-in";
import type { ClientInfo, IssuedTokens, Sessions } from "../auth/sessions";
import type { Clock } from "../clock";
import type { WebAuthnConfig } from "../config";
import type { WebAuthnPurpose } from "../db/entities";
import { isUuid } from "../db/ids";
import type { PasskeyStore, StoredPasskey } from "../db/stores/passkey-store";
import type { UserSummary } from "../db/stores/session-store";
import type { UserStore } from "../db/stores/user-store";
import type { WebAuthnChallengeStore } from "../db/stores/webauthn-challenge-store";
import { transaction } from "../db/transaction";
import type { MailQueue } from "../email/email-accounts";
import { AppError, badUserInput, invalidCredentials, invalidToken, notFound } from "../errors";
import {
  CHALLENGE_TTL_SECONDS,
  type ExpectedCeremony,
  judgeChallenge,
  passkeyAmr,
  passkeyNameProblem,
  signCountVerdict,
} from "./webauthn-rules";

/** A passkey as the API shows it: never its key or credential id. */
export interface PasskeyRecord {
  id: string;
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  /** `multiDevice`: a synced passkey. */
  deviceType: "singleDevice" | "multiDevice";
  backedUp: boolean;
}

/** A ceremony for the browser: send `options` to `navigator.credentials`, and `challengeId` back with its answer. */
export interface PasskeyCeremony<Options> {
  challengeId: string;
  options: Options;
}

/** Who asks, for the operations that need a recent sign-in. */
export interface PasskeyViewer {
  user: UserSummary;
  /** The session of the access token: a registration is finished by the session that started it. */
  sessionId: string;
  /** The access token's `auth_time` (seconds). */
  authTime: number | undefined;
}

/** What a verified assertion proved. */
export interface PasskeyAssertion {
  userId: string;
  passkeyId: string;
  /** The authenticator verified the user (PIN, biometrics), not only their presence. */
  userVerified: boolean;
  /** RFC 8176 `hwk` (device-bound) or `swk` (synced), for the session's `amr`. */
  keyMethod: "hwk" | "swk";
}

export interface PasskeyPolicy extends WebAuthnConfig {
  /** REAUTH_MAX_AGE, seconds. */
  reauthMaxAge: number;
}

/**
 * Passkeys a user may have: enough for every device and a spare key or two,
 * and a bound on `excludeCredentials` and the `passkeys` list.
 */
export const MAX_PASSKEYS_PER_USER = 20;
/** Longest credential id, base64url (1,023 bytes: WebAuthn L3 §5.8.3). */
const MAX_CREDENTIAL_ID_LENGTH = 1364;

/**
 * Passkeys (WebAuthn Level 2, BEHAVIOUR.md §8) with @simplewebauthn/server:
 * registration, the list, removal, and assertions, for a passwordless
 * sign-in (`signIn`) or, through `startAuthentication`/`finishAuthentication`,
 * for any flow that wants proof of a passkey (an MFA step, re-authentication).
 *
 * Every ceremony is a row of `webauthn_challenges`: single-use (a conditional
 * UPDATE, so of concurrent finishes exactly one wins), 5 minutes, bound to
 * its purpose, its user and its `binding`. The challenge is used up before
 * the response is verified, so a refused response cannot be retried against
 * it. Anything wrong with the ceremony is INVALID_TOKEN; anything wrong with
 * the authenticator's answer is INVALID_CREDENTIALS.
 */
export class Passkeys {
  constructor(
    private readonly passkeys: PasskeyStore,
    private readonly challenges: WebAuthnChallengeStore,
    private readonly users: UserStore,
    private readonly sessions: Sessions,
    private readonly mail: MailQueue,
    private readonly policy: PasskeyPolicy,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {}

  /**
   * `startPasskeyRegistration` (recent sign-in): options for
   * `navigator.credentials.create`. The passkey is discoverable (resident
   * key required: it signs in without an email) and user verification is
   * preferred; the user's passkeys are excluded, so one authenticator is not
   * registered twice.
   */
  async startRegistration(
    em: EntityManager,
    viewer: PasskeyViewer,
  ): Promise<PasskeyCeremony<PublicKeyCredentialCreationOptionsJSON>> {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.policy.reauthMaxAge);
    const existing = await this.passkeys.listOfUser(em, viewer.user.id);
    if (existing.length >= MAX_PASSKEYS_PER_USER) {
      throw badUserInput("passkeys", `An account has at most ${MAX_PASSKEYS_PER_USER} passkeys; remove one first`);
    }
    const options = await generateRegistrationOptions({
      rpName: this.policy.rpName,
      rpID: this.policy.rpId,
      userName: viewer.user.email,
      userDisplayName: viewer.user.email,
      // The same handle for every passkey of the user (not the email: it must not identify them elsewhere).
      userID: userHandleOf(viewer.user.id),
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      attestationType: "none",
      excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports })),
      authenticatorSelection: { residentKey: "required", requireResidentKey: true, userVerification: "preferred" },
    });
    const challengeId = await this.issueChallenge(em, "registration", options.challenge, {
      userId: viewer.user.id,
      binding: viewer.sessionId,
    });
    return { challengeId, options };
  }

  /**
   * `finishPasskeyRegistration`: verifies the authenticator's answer against
   * the RP id and origins of config and stores the passkey with `name` (or
   * "Passkey" and the date). Mails a notice to the account's address.
   */
  async finishRegistration(
    em: EntityManager,
    viewer: PasskeyViewer,
    input: { challengeId: string; response: Record<string, unknown>; name?: string | null | undefined },
    client: ClientInfo,
  ): Promise<PasskeyRecord> {
    const now = this.clock.now();
    const name = input.name ?? `Passkey ${now.toISOString().slice(0, 10)}`;
    const problem = passkeyNameProblem(name);
    if (problem !== null) throw badUserInput("name", problem);
    const response = credentialResponse(input.response) as RegistrationResponseJSON | null;
    if (response === null) throw badUserInput("response", "The response must be a RegistrationResponseJSON");
    const challenge = await this.useChallenge(
      em,
      input.challengeId,
      {
        purpose: "registration",
        userId: viewer.user.id,
        binding: viewer.sessionId,
      },
      client,
    );

    let info: Awaited<ReturnType<typeof verifyRegistrationResponse>>["registrationInfo"];
    try {
      const verified = await verifyRegistrationResponse({
        response,
        expectedChallenge: (presented) => sameHash(presented, challenge.challengeHash),
        expectedOrigin: this.policy.origins,
        expectedRPID: this.policy.rpId,
        requireUserVerification: false,
      });
      info = verified.verified ? verified.registrationInfo : undefined;
    } catch {
      // The library's message may quote the challenge: it is neither logged nor sent.
      info = undefined;
    }
    if (info === undefined) {
      this.events({
        event: "passkey_registered",
        outcome: "failure",
        reason: "VERIFICATION_FAILED",
        userId: viewer.user.id,
        ip: client.ip,
      });
      throw invalidCredentials();
    }

    const passkey = {
      id: randomUUID(),
      userId: viewer.user.id,
      credentialId: info.credential.id,
      publicKey: Buffer.from(info.credential.publicKey).toString("base64url"),
      signCount: info.credential.counter,
      transports: (info.credential.transports ?? []).slice(0, 10),
      deviceType: info.credentialDeviceType,
      backedUp: info.credentialBackedUp,
      name,
      createdAt: now,
    };
    try {
      await transaction(em, async (tx) => {
        await this.passkeys.insert(tx, passkey);
        await this.mail.enqueue(tx, {
          template: "second-factor-added",
          to: viewer.user.email,
          params: { factor: passkeyFactor(name) },
        });
      });
    } catch (error) {
      // excludeCredentials keeps a browser from this; only a hand-made answer gets here.
      if (error instanceof UniqueConstraintViolationException) {
        throw badUserInput("response", "This passkey is already registered");
      }
      throw error;
    }
    this.mail.wake();
    this.events({
      event: "passkey_registered",
      outcome: "success",
      userId: viewer.user.id,
      sessionId: viewer.sessionId,
      ip: client.ip,
    });
    return recordOf({ ...passkey, lastUsedAt: null });
  }

  /** `passkeys`: the user's passkeys, oldest first. */
  async list(em: EntityManager, userId: string): Promise<PasskeyRecord[]> {
    return (await this.passkeys.listOfUser(em, userId)).map(recordOf);
  }

  /** `deletePasskey(id)` (recent sign-in): another user's or an unknown id is NOT_FOUND. Mails a notice. */
  async delete(em: EntityManager, viewer: PasskeyViewer, id: string, client: ClientInfo): Promise<void> {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.policy.reauthMaxAge);
    const deleted = await transaction(em, async (tx) => {
      const passkey = isUuid(id) ? await this.passkeys.findOfUser(tx, viewer.user.id, id) : null;
      if (passkey === null || !(await this.passkeys.deleteOfUser(tx, viewer.user.id, id))) return null;
      await this.mail.enqueue(tx, {
        template: "second-factor-removed",
        to: viewer.user.email,
        params: { factor: passkeyFactor(passkey.name) },
      });
      return passkey;
    });
    if (deleted === null) throw notFound("Passkey");
    this.mail.wake();
    this.events({
      event: "passkey_deleted",
      outcome: "success",
      userId: viewer.user.id,
      sessionId: viewer.sessionId,
      ip: client.ip,
    });
  }

  /**
   * Options for `navigator.credentials.get`. Without `userId`: a
   * discoverable sign-in (the browser offers every passkey it has for the RP
   * id; the passkey says who). With `userId`: only that user's passkeys are
   * allowed (an MFA step); NOT_FOUND when they have none. `binding` ties the
   * ceremony to the caller's context (say, the MFA challenge's id): it is
   * finished only with the same value. User verification is required unless
   * `userVerification` says otherwise.
   */
  async startAuthentication(
    em: EntityManager,
    input: { userId?: string; binding?: string; userVerification?: "required" | "preferred" } = {},
  ): Promise<PasskeyCeremony<PublicKeyCredentialRequestOptionsJSON>> {
    let allowCredentials: { id: string; transports: string[] }[] | undefined;
    if (input.userId !== undefined) {
      const passkeys = await this.passkeys.listOfUser(em, input.userId);
      if (passkeys.length === 0) throw notFound("Passkey");
      allowCredentials = passkeys.map((p) => ({ id: p.credentialId, transports: p.transports }));
    }
    const options = await generateAuthenticationOptions({
      rpID: this.policy.rpId,
      allowCredentials,
      timeout: CHALLENGE_TTL_SECONDS * 1000,
      userVerification: input.userVerification ?? "required",
    });
    const challengeId = await this.issueChallenge(em, "authentication", options.challenge, {
      userId: input.userId ?? null,
      binding: input.binding ?? null,
    });
    return { challengeId, options };
  }

  /**
   * Verifies an assertion for a ceremony of `startAuthentication`, with the
   * stored public key and the RP id and origins of config. With `userId`,
   * the passkey must be that user's (re-authentication, an MFA step).
   *
   * The ceremony is used up first (INVALID_TOKEN if it is unknown, used,
   * expired, or was started for another user or binding). Then any fault of
   * the answer is INVALID_CREDENTIALS: an unknown credential, another user's,
   * a bad signature, the wrong origin or RP id, no user verification when
   * `requireUserVerification`, and a signature counter that did not go
   * forward (a cloned authenticator: refused and logged as
   * `passkey_clone_suspected`). A good one records the new counter and
   * `lastUsedAt`.
   */
  async finishAuthentication(
    em: EntityManager,
    input: {
      challengeId: string;
      response: Record<string, unknown>;
      userId?: string;
      binding?: string;
      requireUserVerification: boolean;
    },
    client: ClientInfo,
  ): Promise<PasskeyAssertion> {
    const response = credentialResponse(input.response) as AuthenticationResponseJSON | null;
    if (response === null) throw badUserInput("response", "The response must be an AuthenticationResponseJSON");
    const challenge = await this.useChallenge(
      em,
      input.challengeId,
      {
        purpose: "authentication",
        userId: input.userId,
        binding: input.binding,
      },
      client,
    );
    const refuse = (reason: string, userId?: string): never => {
      this.events({ event: "passkey_assertion", outcome: "failure", reason, userId, ip: client.ip });
      throw invalidCredentials();
    };

    const passkey = await this.passkeys.findByCredentialId(em, response.id);
    if (passkey === null) return refuse("UNKNOWN_CREDENTIAL");
    if (input.userId !== undefined && passkey.userId !== input.userId) return refuse("OTHER_USER", input.userId);
    // §7.2 step 6: a discoverable credential names its user; it must be the passkey's owner.
    const userHandle = response.response.userHandle;
    if (userHandle && userHandle !== Buffer.from(userHandleOf(passkey.userId)).toString("base64url")) {
      return refuse("USER_HANDLE_MISMATCH", passkey.userId);
    }

    let info: Awaited<ReturnType<typeof verifyAuthenticationResponse>>["authenticationInfo"] | undefined;
    try {
      const verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: (presented) => sameHash(presented, challenge.challengeHash),
        expectedOrigin: this.policy.origins,
        expectedRPID: this.policy.rpId,
        // The counter is judged below, once the signature is known to be good: a
        // forged answer must not raise a clone alarm (the library checks it first).
        credential: {
          id: passkey.credentialId,
          publicKey: publicKeyOf(passkey),
          counter: 0,
          transports: passkey.transports,
        },
        requireUserVerification: input.requireUserVerification,
      });
      info = verified.verified ? verified.authenticationInfo : undefined;
    } catch {
      // The library's message may quote the challenge: it is neither logged nor sent.
      info = undefined;
    }
    if (info === undefined) return refuse("VERIFICATION_FAILED", passkey.userId);

    const cloned = () => {
      this.events({
        event: "passkey_clone_suspected",
        outcome: "failure",
        reason: "SIGN_COUNT_NOT_INCREASED",
        userId: passkey.userId,
        ip: client.ip,
      });
      throw invalidCredentials();
    };
    if (signCountVerdict(passkey.signCount, info.newCounter) === "cloned") return cloned();
    // The same rule in the UPDATE: a concurrent use that got a higher counter in first wins.
    const recorded = await this.passkeys.recordUse(em, passkey.id, {
      signCount: info.newCounter,
      backedUp: info.credentialBackedUp,
      at: this.clock.now(),
    });
    if (!recorded) return cloned();
    return {
      userId: passkey.userId,
      passkeyId: passkey.id,
      userVerified: info.userVerified,
      keyMethod: info.credentialDeviceType === "multiDevice" ? "swk" : "hwk",
    };
  }

  /**
   * `finishPasskeySignIn`: a discoverable ceremony's assertion, with user
   * verification required, starts a new session. The passkey is something
   * the user has and the verification something they know or are, so it
   * counts as two factors (`amr` `hwk`/`swk`, `user`, `mfa`): no MFA step.
   */
  async signIn(
    em: EntityManager,
    input: { challengeId: string; response: Record<string, unknown> },
    client: ClientInfo,
  ): Promise<IssuedTokens> {
    const assertion = await this.finishAuthentication(em, { ...input, requireUserVerification: true }, client);
    const issued = await transaction(em, async (tx) => {
      const user = await this.users.findById(tx, assertion.userId);
      // The account was deleted meanwhile (its passkeys with it).
      if (user === null) throw invalidCredentials();
      return this.sessions.start(
        tx,
        user,
        client,
        passkeyAmr(assertion.keyMethod === "swk" ? "multiDevice" : "singleDevice"),
      );
    });
    this.events({
      event: "passkey_sign_in",
      outcome: "success",
      userId: issued.user.id,
      sessionId: issued.sessionId,
      ip: client.ip,
    });
    return issued;
  }

  /**
   * `PasskeyVerifier` (mfa/passkey-verifier.ts): a passkey as the second
   * step of a sign-in (`verifyMfa`, a ceremony of `startPasskeyMfa` bound to
   * that MFA challenge; user verification preferred, as for any second
   * factor) or to renew a sign-in (`reauthenticate`, a ceremony of
   * `startPasskeySignIn`; user verification required, as for a passwordless
   * sign-in). A wrong answer is null, for the caller to count; a ceremony
   * that is unknown, used, expired or bound elsewhere stays INVALID_TOKEN.
   */
  async verifyAssertion(
    em: EntityManager,
    userId: string,
    assertion: { challengeId: string; response: Record<string, unknown> },
    purpose: "mfa" | "reauthenticate",
    context: { binding?: string; client: ClientInfo },
  ): Promise<string[] | null> {
    try {
      const proved = await this.finishAuthentication(
        em,
        {
          ...assertion,
          userId,
          binding: purpose === "mfa" ? context.binding : undefined,
          requireUserVerification: purpose === "reauthenticate",
        },
        context.client,
      );
      return proved.userVerified ? [proved.keyMethod, "user"] : [proved.keyMethod];
    } catch (error) {
      if (error instanceof AppError && error.code === "INVALID_CREDENTIALS") return null;
      throw error;
    }
  }

  /** `PasskeyVerifier`: the ceremony of `startPasskeyMfa`, for the user's passkeys, bound to the MFA challenge. */
  async startMfaCeremony(
    em: EntityManager,
    userId: string,
    binding: string,
  ): Promise<{ challengeId: string; options: Record<string, unknown> }> {
    const { challengeId, options } = await this.startAuthentication(em, {
      userId,
      binding,
      userVerification: "preferred",
    });
    return { challengeId, options: { ...options } };
  }

  /** Whether the user has a passkey (their second factors, MFA_REQUIRED's `methods`). */
  async hasAny(em: EntityManager, userId: string): Promise<boolean> {
    return (await this.passkeys.countOfUser(em, userId)) > 0;
  }

  /** In the caller's transaction (the operator's `reset-mfa`): removes every passkey of the user; how many. */
  removeAll(tx: EntityManager, userId: string): Promise<number> {
    return this.passkeys.deleteAllOfUser(tx, userId);
  }

  private async issueChallenge(
    em: EntityManager,
    purpose: WebAuthnPurpose,
    challenge: string,
    owner: { userId: string | null; binding: string | null },
  ): Promise<string> {
    const now = this.clock.now();
    const id = randomUUID();
    await this.challenges.insert(em, {
      id,
      challengeHash: hashChallenge(challenge),
      purpose,
      userId: owner.userId,
      binding: owner.binding,
      createdAt: now,
      expiresAt: new Date(now.getTime() + CHALLENGE_TTL_SECONDS * 1000),
    });
    return id;
  }

  /** Judges the ceremony and uses it up; INVALID_TOKEN for anything but a usable one that this call won. */
  private async useChallenge(em: EntityManager, challengeId: string, expected: ExpectedCeremony, client: ClientInfo) {
    const now = this.clock.now();
    const challenge = isUuid(challengeId) ? await this.challenges.findById(em, challengeId) : null;
    const verdict = judgeChallenge(challenge, expected, now);
    if (verdict !== "usable" || challenge === null || !(await this.challenges.consume(em, challenge.id, now))) {
      this.events({
        event: expected.purpose === "registration" ? "passkey_registered" : "passkey_assertion",
        outcome: "failure",
        reason: `CHALLENGE_${(verdict === "usable" ? "used" : verdict).toUpperCase().replace("-", "_")}`,
        userId: expected.userId,
        ip: client.ip,
      });
      throw invalidToken();
    }
    return challenge;
  }
}

/** What the notice mails call it. */
const passkeyFactor = (name: string) => `The passkey “${name}”`;

/** The WebAuthn user handle of a user: the 16 bytes of their id. */
function userHandleOf(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ""), "hex"));
}

function publicKeyOf(passkey: StoredPasskey): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(passkey.publicKey, "base64url"));
}

function hashChallenge(challenge: string): string {
  return createHash("sha256").update(challenge, "utf8").digest("base64url");
}

function sameHash(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashChallenge(presented));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}

function recordOf(
  p: Omit<StoredPasskey, "userId" | "credentialId" | "publicKey" | "signCount" | "transports">,
): PasskeyRecord {
  return {
    id: p.id,
    name: p.name,
    createdAt: p.createdAt,
    lastUsedAt: p.lastUsedAt,
    deviceType: p.deviceType,
    backedUp: p.backedUp,
  };
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * The outer shape both response kinds share, checked before any lookup: a
 * credential id that could be ours (base64url, at most 1,023 bytes) and a
 * `response` object. The library checks the rest.
 */
function credentialResponse(value: Record<string, unknown>): Record<string, unknown> | null {
  const { id, rawId, type, response } = value;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_CREDENTIAL_ID_LENGTH || !BASE64URL.test(id)) {
    return null;
  }
  if (rawId !== id || type !== "public-key") return null;
  if (typeof response !== "object" || response === null || Array.isArray(response)) return null;
  return value;
}
