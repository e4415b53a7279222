import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import { badUserInput } from "../../errors";
import type { OAuthViewer } from "../../oauth/oauth-accounts";
import { CurrentViewer, loadViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { AuthRateLimit } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import {
  LinkedAccount,
  MAX_CALLBACK_VALUE_LENGTH,
  MAX_PROVIDER_ID_LENGTH,
  OAuthCallbackInput,
  OAuthProvider,
  OAuthStart,
} from "../types/oauth";

/** BEHAVIOUR.md §9, `oauth.graphql`. Each operation calls one method of `OAuthAccounts`. */
@Resolver()
export class OAuthResolver {
  @Query(() => [OAuthProvider], { description: "The identity providers this server is configured for." })
  oauthProviders(@Ctx() { services }: GraphQLContext): OAuthProvider[] {
    return services.oauth.list();
  }

  @Authorized()
  @Query(() => [LinkedAccount], { description: "The signed-in user's linked identities." })
  async linkedAccounts(
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<LinkedAccount[]> {
    return (await services.oauth.linked(em, viewer.user.id)).map(LinkedAccount.from);
  }

  @Mutation(() => OAuthStart, {
    description: "Starts a sign-in with a provider; redirectUri must be on the server's allowlist.",
  })
  async startOAuthSignIn(
    @Arg("provider", () => String) provider: string,
    @Arg("redirectUri", () => String) redirectUri: string,
    @Ctx() context: GraphQLContext,
  ): Promise<OAuthStart> {
    if (provider.length > MAX_PROVIDER_ID_LENGTH) throw badUserInput("provider", "provider is too long");
    if (redirectUri.length > MAX_CALLBACK_VALUE_LENGTH) throw badUserInput("redirectUri", "redirectUri is too long");
    // Signed in or not, both may start; who it was decides whether the identity may be linked later.
    const userId = context.token.ok ? ((await loadViewer(context).catch(() => null))?.user.id ?? null) : null;
    const url = await context.services.oauth.start(context.em, provider, redirectUri, userId);
    return { authorizationUrl: url.href };
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, {
    description: "Completes it (a new session), linking or creating the account as BEHAVIOUR.md §9 says.",
  })
  async finishOAuthSignIn(
    @Arg("input", () => OAuthCallbackInput) input: OAuthCallbackInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.oauth.finish(em, input, client), refreshTokens);
  }

  @Authorized()
  @Mutation(() => LinkedAccount, {
    description: "Links the provider identity to the signed-in user (needs a recent sign-in).",
  })
  async linkOAuthAccount(
    @Arg("input", () => OAuthCallbackInput) input: OAuthCallbackInput,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<LinkedAccount> {
    const { em, services, client } = context;
    return LinkedAccount.from(await services.oauth.link(em, asker(viewer, context), input, client));
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Removes a linked identity; refused when it is the user's last way to sign in.",
  })
  async unlinkOAuthAccount(
    @Arg("id", () => ID) id: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    await context.services.oauth.unlink(context.em, asker(viewer, context), id, context.client);
    return true;
  }
}

/** The viewer with the access token's `auth_time`, for the recent sign-in rule. */
function asker(viewer: Viewer, { token }: GraphQLContext): OAuthViewer {
  return { user: viewer.user, authTime: token.ok ? token.claims.auth_time : undefined };
}
