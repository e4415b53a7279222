import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from "type-graphql";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { AuthRateLimit } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import { ReauthenticateInput, VerifyMfaInput } from "../types/mfa-inputs";
import { PasskeyChallenge } from "../types/passkey";
import { TotpSetup } from "../types/totp-setup";

/** BEHAVIOUR.md §8: the TOTP, second-factor sign-in and recent sign-in operations of `mfa.graphql`. */
@Resolver()
export class MfaResolver {
  @Authorized()
  @Mutation(() => TotpSetup, {
    description: "Starts adding an authenticator app (needs a recent sign-in). Nothing is active until confirmed.",
  })
  startTotpSetup(@CurrentViewer() viewer: Viewer, @Ctx() context: GraphQLContext): Promise<TotpSetup> {
    return context.services.totp.startSetup(context.em, recent(viewer, context), context.client);
  }

  @Authorized()
  @Mutation(() => [String], {
    description: "Activates the app with a first code; returns 10 single-use recovery codes, shown once.",
  })
  confirmTotpSetup(
    @Arg("code", () => String) code: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<string[]> {
    return services.totp.confirmSetup(em, viewer.user, code, client);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Removes the authenticator app (TOTP or recovery code; needs a recent sign-in).",
  })
  disableTotp(
    @Arg("code", () => String) code: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<boolean> {
    return context.services.totp.disable(context.em, recent(viewer, context), code, context.client);
  }

  @Authorized()
  @Mutation(() => [String], { description: "Replaces the recovery codes (needs a recent sign-in)." })
  regenerateRecoveryCodes(
    @Arg("code", () => String) code: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() context: GraphQLContext,
  ): Promise<string[]> {
    return context.services.totp.regenerateRecoveryCodes(context.em, recent(viewer, context), code, context.client);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, { description: "Completes a sign-in that answered MFA_REQUIRED (a new session)." })
  async verifyMfa(
    @Arg("input", () => VerifyMfaInput) input: VerifyMfaInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.mfaSignIn.verify(em, input, client), refreshTokens);
  }

  @Mutation(() => PasskeyChallenge, {
    description: "A passkey challenge for completing a sign-in that answered MFA_REQUIRED.",
  })
  async startPasskeyMfa(
    @Arg("mfaToken", () => String) mfaToken: string,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<PasskeyChallenge> {
    return PasskeyChallenge.from(await services.mfaSignIn.startPasskey(em, mfaToken));
  }

  @Authorized()
  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, {
    description: "Renews the session's recent sign-in; returns fresh tokens for the same session.",
  })
  async reauthenticate(
    @Arg("input", () => ReauthenticateInput) input: ReauthenticateInput,
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(
      await services.reauthentication.reauthenticate(em, viewer, input, client),
      refreshTokens,
    );
  }
}

/** The viewer with their access token's `auth_time` (the viewer exists, so the token verified). */
function recent(viewer: Viewer, { token }: GraphQLContext) {
  return { user: viewer.user, authTime: token.ok ? token.claims.auth_time : undefined };
}
