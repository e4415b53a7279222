import { Arg, Authorized, Ctx, ID, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import type { PasskeyViewer } from "../../mfa/passkeys";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { AuthRateLimit } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import { FinishPasskeyRegistrationInput, Passkey, PasskeyChallenge, PasskeyResponseInput } from "../types/passkey";

/** BEHAVIOUR.md §8, the passkey operations of `mfa.graphql`. Each calls one method of `Passkeys`. */
@Resolver(() => Passkey)
export class PasskeyResolver {
  @Authorized()
  @Query(() => [Passkey], { description: "The signed-in user's passkeys." })
  async passkeys(@CurrentViewer() viewer: Viewer, @Ctx() { em, services }: GraphQLContext): Promise<Passkey[]> {
    return (await services.passkeys.list(em, viewer.user.id)).map(Passkey.from);
  }

  @Authorized()
  @Mutation(() => PasskeyChallenge, { description: "Starts adding a passkey (needs a recent sign-in)." })
  async startPasskeyRegistration(
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<PasskeyChallenge> {
    return PasskeyChallenge.from(await context.services.passkeys.startRegistration(context.em, asker(viewer, context)));
  }

  @Authorized()
  @Mutation(() => Passkey)
  async finishPasskeyRegistration(
    @Arg("input", () => FinishPasskeyRegistrationInput) input: FinishPasskeyRegistrationInput,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<Passkey> {
    const { em, services, client } = context;
    return Passkey.from(await services.passkeys.finishRegistration(em, asker(viewer, context), input, client));
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Removes a passkey (needs a recent sign-in)." })
  async deletePasskey(
    @Arg("id", () => ID) id: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    await context.services.passkeys.delete(context.em, asker(viewer, context), id, context.client);
    return true;
  }

  @Mutation(() => PasskeyChallenge, { description: "Starts a sign-in with a passkey (no email needed)." })
  async startPasskeySignIn(@Ctx() { em, services }: GraphQLContext): Promise<PasskeyChallenge> {
    return PasskeyChallenge.from(await services.passkeys.startAuthentication(em));
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, { description: "Signs in with a passkey (a new session; counts as two factors)." })
  async finishPasskeySignIn(
    @Arg("input", () => PasskeyResponseInput) input: PasskeyResponseInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.passkeys.signIn(em, input, client), refreshTokens);
  }
}

/** The viewer as the passkey service needs it: with the access token's `auth_time` for the recent sign-in rule. */
function asker(viewer: Viewer, { token }: GraphQLContext): PasskeyViewer {
  // The viewer exists, so the token verified.
  return { user: viewer.user, sessionId: viewer.session.id, authTime: token.ok ? token.claims.auth_time : undefined };
}
