import { randomUUID } from "node:crypto";
import { type EntityManager, UniqueConstraintViolationException } from "@mikro-orm/core";
import type { AccountMail } from "../auth/accounts";
import type { AuthEventSink } from "../auth/events";
import { assertRecentSignIn } from "../auth/recent-sign-in";
import type { SecondFactorGate } from "../auth/second-factor-gate";
import type { ClientInfo, IssuedTokens, Sessions } from "../auth/sessions";
import type { Clock } from "../clock";
import { User } from "../db/entities";
import { isUuid } from "../db/ids";
import type { OAuthStore, StoredLinkedAccount } from "../db/stores/oauth-store";
import type { UserSummary } from "../db/stores/session-store";
import { summaryOf, type UserStore } from "../db/stores/user-store";
import { transaction } from "../db/transaction";
import type { MailQueue } from "../email/email-accounts";
import {
  accountExists,
  badUserInput,
  featureDisabled,
  invalidToken,
  mfaRequired,
  notFound,
  providerUnavailable,
} from "../errors";
import { decideLink, decideSignIn, mayUnlink, type ProviderIdentity } from "./account-resolution";
import { type IdentityProvider, ProviderError } from "./identity-providers";
import type { OAuthFlows, TakenFlow } from "./oauth-flows";

/** What the frontend relays from the provider's redirect. */
export interface OAuthCallback {
  provider: string;
  code: string;
  state: string;
}

/** The signed-in user, with the access token's `auth_time` for the recent sign-in rule. */
export interface OAuthViewer {
  user: UserSummary;
  authTime: number | undefined;
}

export interface OAuthPolicy {
  redirectUris: readonly string[];
  allowSignUp: boolean;
  reauthMaxAge: number;
}

/** Seconds a client should wait after a provider outage before trying again. */
const PROVIDER_RETRY_AFTER_SECONDS = 5;

/**
 * BEHAVIOUR.md §9: sign-in with identity providers, the linking rules
 * (`account-resolution.ts`) and the linked identities. A provider's tokens
 * are used once, to learn who the person is, and never stored: no feature
 * here calls the provider on the user's behalf later.
 */
export class OAuthAccounts {
  private readonly providers: ReadonlyMap<string, IdentityProvider>;

  constructor(
    providers: readonly IdentityProvider[],
    private readonly store: OAuthStore,
    private readonly flows: OAuthFlows,
    private readonly users: UserStore,
    private readonly sessions: Sessions,
    private readonly secondFactor: SecondFactorGate,
    /** The new account's verification mail, as after `register`. */
    private readonly mail: Pick<AccountMail, "queueVerification">,
    /** Notices of a sign-in method added or removed (like a second factor's, §8). */
    private readonly notices: MailQueue,
    private readonly policy: OAuthPolicy,
    private readonly clock: Clock,
    private readonly events: AuthEventSink,
  ) {
    this.providers = new Map(providers.map((p) => [p.id, p]));
  }

  /** `oauthProviders`, in configuration order. */
  list(): { id: string; name: string }[] {
    return [...this.providers.values()].map(({ id, name }) => ({ id, name }));
  }

  /**
   * `startOAuthSignIn`. The redirect URI must be on the allowlist exactly:
   * the code is sent there, so anywhere else could collect it. `userId`: who
   * is signed in, if anyone; only they may then link the identity.
   */
  async start(em: EntityManager, providerId: string, redirectUri: string, userId: string | null): Promise<URL> {
    const provider = this.provider(providerId);
    if (!this.policy.redirectUris.includes(redirectUri)) {
      throw badUserInput("redirectUri", "This redirect URI is not on the server's list (OAUTH_REDIRECT_URIS)");
    }
    const flow = await this.flows.start(em, { provider: provider.id, redirectUri, userId });
    return this.talk(() => provider.authorizationUrl(redirectUri, flow), userId);
  }

  /** `finishOAuthSignIn`: the account is resolved as §9 says; second factors apply. */
  async finish(em: EntityManager, callback: OAuthCallback, client: ClientInfo): Promise<IssuedTokens> {
    const { provider, identity } = await this.identify(em, callback, client);
    const outcome = await this.retryOnConflict(() =>
      transaction(em, async (tx) => {
        const user = await this.resolve(tx, identity, client);
        // RFC 8176 has no value for "a federated provider": the provider's id, as §5 says.
        const amr = [provider.id];
        const required = await this.secondFactor.challengeIfEnrolled(tx, user.id, amr);
        return required === null ? await this.sessions.start(tx, user, client, amr) : { required, userId: user.id };
      }),
    );
    // One outbox behind both: the new account's verification mail and the link notice.
    this.notices.wake();
    if ("required" in outcome) {
      this.events({ event: "mfa_required", outcome: "success", userId: outcome.userId, ip: client.ip });
      throw mfaRequired(outcome.required.mfaToken, outcome.required.methods);
    }
    this.events({
      event: "oauth_sign_in",
      outcome: "success",
      userId: outcome.user.id,
      sessionId: outcome.sessionId,
      ip: client.ip,
    });
    return outcome;
  }

  /** `linkOAuthAccount`: needs a recent sign-in, and a flow this user started. */
  async link(
    em: EntityManager,
    viewer: OAuthViewer,
    callback: OAuthCallback,
    client: ClientInfo,
  ): Promise<StoredLinkedAccount> {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.policy.reauthMaxAge);
    const { identity } = await this.identify(em, callback, client, viewer.user.id);
    const linked = await this.retryOnConflict(() =>
      transaction(em, async (tx) => {
        const existing = await this.store.findLink(tx, identity.provider, identity.subject);
        const decision = decideLink(existing?.userId ?? null, viewer.user.id);
        if (decision.action === "refuse") {
          this.events({
            event: "oauth_linked",
            outcome: "failure",
            reason: decision.reason,
            userId: viewer.user.id,
            ip: client.ip,
          });
          throw accountExists();
        }
        if (existing !== null) return existing;
        const link = await this.insertLink(tx, viewer.user.id, identity);
        await this.notify(tx, "provider-linked", viewer.user.email, identity.provider);
        return link;
      }),
    );
    this.notices.wake();
    this.events({ event: "oauth_linked", outcome: "success", userId: viewer.user.id, ip: client.ip });
    return linked;
  }

  /**
   * `unlinkOAuthAccount`: refused when it would leave no way to sign in. The
   * user's row is locked first, so two unlinks of a user's last two
   * identities cannot both see "another one is left" (one waits and then
   * counts again).
   */
  async unlink(em: EntityManager, viewer: OAuthViewer, id: string, client: ClientInfo): Promise<void> {
    assertRecentSignIn(viewer.authTime, this.clock.now(), this.policy.reauthMaxAge);
    const userId = viewer.user.id;
    if (!isUuid(id)) throw notFound("Linked account");
    await transaction(em, async (tx) => {
      await this.users.lockById(tx, userId);
      const links = await this.store.linksOf(tx, userId);
      if (!links.some((link) => link.id === id)) throw notFound("Linked account");
      if (!mayUnlink(await this.store.signInMethods(tx, userId))) {
        throw badUserInput(
          "id",
          "This is your last way to sign in: set a password (a password reset link sets one) or add a passkey first",
        );
      }
      await this.store.deleteLink(tx, id, userId);
      const provider = links.find((link) => link.id === id)?.provider ?? "";
      await this.notify(tx, "provider-unlinked", viewer.user.email, provider);
    });
    this.notices.wake();
    this.events({ event: "oauth_unlinked", outcome: "success", userId, ip: client.ip });
  }

  /** `linkedAccounts`. */
  linked(em: EntityManager, userId: string): Promise<StoredLinkedAccount[]> {
    return this.store.linksOf(em, userId);
  }

  /**
   * The flow first (spent whatever follows), then the provider. A flow
   * started by someone signed in may only link to them (`linkingUserId`);
   * one started signed out may not link at all: otherwise a victim who
   * opens a crafted callback link while signed in would attach the
   * attacker's identity to their account.
   */
  private async identify(
    em: EntityManager,
    callback: OAuthCallback,
    client: ClientInfo,
    linkingUserId?: string,
  ): Promise<{ provider: IdentityProvider; identity: ProviderIdentity }> {
    const provider = this.provider(callback.provider);
    let taken: TakenFlow;
    try {
      taken = await this.flows.take(em, provider.id, callback.state);
      if (linkingUserId !== undefined && taken.flow.userId !== linkingUserId) throw invalidToken();
    } catch (error) {
      this.events({ event: "oauth_sign_in", outcome: "failure", reason: "INVALID_STATE", ip: client.ip });
      throw error;
    }
    const identity = await this.talk(
      () =>
        provider.identify({
          code: callback.code,
          redirectUri: taken.flow.redirectUri,
          state: taken.state,
          codeVerifier: taken.codeVerifier,
          nonce: taken.nonce,
        }),
      linkingUserId ?? null,
      client,
    );
    return { provider, identity };
  }

  /** The user a sign-in resolves to, creating or linking as `decideSignIn` says; throws its refusals. */
  private async resolve(tx: EntityManager, identity: ProviderIdentity, client: ClientInfo): Promise<UserSummary> {
    const now = this.clock.now();
    const link = await this.store.findLink(tx, identity.provider, identity.subject);
    const sameEmail =
      link === null && identity.email !== null ? await this.users.lockByEmail(tx, identity.email) : null;
    const decision = decideSignIn({
      linkedUserId: link?.userId ?? null,
      sameEmail,
      identity,
      allowSignUp: this.policy.allowSignUp,
    });
    switch (decision.action) {
      case "sign-in": {
        // Lock order: the user's row, then the link (as link-and-sign-in and unlink take them).
        // Touching the link first deadlocked on PostgreSQL with a racing first sign-in that held
        // the row (lockByEmail) and waited on this link's unique key, while this session's
        // insert waited on the row (its foreign key's KEY SHARE).
        const user = await this.users.lockById(tx, decision.userId);
        // Deleted between the two reads: the cascade took the link too.
        if (user === null) throw invalidToken();
        const { id } = link as StoredLinkedAccount;
        // Unlinked between the read above and the lock: decide again without it.
        if (!(await this.store.touchLink(tx, id, identity.email, identity.emailVerified, now)))
          throw new ResolveAgain();
        return user;
      }
      case "link-and-sign-in":
        await this.insertLink(tx, decision.userId, identity);
        // Linked without the user asking: they hear of it, as of any new way into the account.
        await this.notify(tx, "provider-linked", (sameEmail as UserSummary).email, identity.provider);
        return sameEmail as UserSummary;
      case "create": {
        const user = tx.create(
          User,
          {
            email: identity.email as string,
            passwordHash: null,
            emailVerifiedAt: identity.emailVerified ? now : null,
            createdAt: now,
            updatedAt: now,
          },
          { persist: false },
        );
        await tx.insert(user);
        await this.insertLink(tx, user.id, identity);
        // Like a registration: an address nobody vouched for gets the link that proves it.
        if (!identity.emailVerified) await this.mail.queueVerification(tx, user);
        return summaryOf(user);
      }
      case "refuse":
        this.events({ event: "oauth_sign_in", outcome: "failure", reason: decision.reason, ip: client.ip });
        if (decision.reason === "ACCOUNT_EXISTS") throw accountExists();
        if (decision.reason === "SIGN_UP_DISABLED") throw featureDisabled("Sign-up through an identity provider");
        throw badUserInput(
          "provider",
          "The provider shared no email address; allow it to share one, or sign up with an email and password",
        );
    }
  }

  private notify(
    tx: EntityManager,
    template: "provider-linked" | "provider-unlinked",
    to: string,
    providerId: string,
  ): Promise<void> {
    const provider = this.providers.get(providerId)?.name ?? providerId;
    return this.notices.enqueue(tx, { template, to, params: { provider } });
  }

  private async insertLink(
    tx: EntityManager,
    userId: string,
    identity: ProviderIdentity,
  ): Promise<StoredLinkedAccount> {
    const link: StoredLinkedAccount = {
      id: randomUUID(),
      userId,
      provider: identity.provider,
      subject: identity.subject,
      email: identity.email,
      emailVerified: identity.emailVerified,
      createdAt: this.clock.now(),
    };
    await this.store.insertLink(tx, link);
    return link;
  }

  /**
   * Two first sign-ins of one identity (or a registration of its email) at
   * once: the loser's insert violates a unique index. Run again, it sees the
   * winner's row and decides from that (signs in, or ACCOUNT_EXISTS). Also
   * when the link it read was removed before the user's row was locked.
   */
  private async retryOnConflict<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof UniqueConstraintViolationException || error instanceof ResolveAgain)) throw error;
      return work();
    }
  }

  private provider(id: string): IdentityProvider {
    const provider = this.providers.get(id);
    if (provider === undefined) throw featureDisabled("Sign-in with this provider");
    return provider;
  }

  /** A conversation with the provider: its refusal is INVALID_TOKEN, its outage SERVICE_UNAVAILABLE. */
  private async talk<T>(work: () => Promise<T>, userId: string | null, client?: ClientInfo): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      this.events({
        event: "oauth_sign_in",
        outcome: "failure",
        reason: error.kind === "unavailable" ? "PROVIDER_UNAVAILABLE" : "PROVIDER_REJECTED",
        detail: error.detail,
        userId: userId ?? undefined,
        ip: client?.ip,
      });
      throw error.kind === "unavailable" ? providerUnavailable(PROVIDER_RETRY_AFTER_SECONDS) : invalidToken();
    }
  }
}

/** The facts a resolution read changed before it could act on them (a link removed meanwhile): run it again. */
class ResolveAgain extends Error {
  override name = "ResolveAgain";
}
