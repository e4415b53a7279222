import { Arg, Authorized, Ctx, Mutation, Resolver, UseMiddleware } from "type-graphql";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { AuthRateLimit } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import { EmailCodeInput, ResetPasswordInput } from "../types/inputs";

/** BEHAVIOUR.md §7: the operations of `email.graphql`. Each calls one method of `EmailAccounts`. */
@Resolver()
export class EmailResolver {
  @Authorized()
  @Mutation(() => Boolean, { description: "Sends a new verification mail to the signed-in user's address." })
  requestEmailVerification(
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.requestVerification(em, viewer.user, client);
  }

  @Mutation(() => Boolean, { description: "Marks the address of the token's user as verified. Single-use." })
  verifyEmail(
    @Arg("token", () => String) token: string,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.verifyEmail(em, token, client);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => Boolean, {
    description: "Sends a reset link if the account exists. Always true, same timing either way.",
  })
  requestPasswordReset(
    @Arg("email", () => String) email: string,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.requestPasswordReset(em, email, client);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => Boolean, {
    description: "Sets a new password from a reset link and ends every session of the user.",
  })
  resetPassword(
    @Arg("input", () => ResetPasswordInput) input: ResetPasswordInput,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.resetPassword(em, input, client);
  }

  @Authorized()
  @Mutation(() => Boolean, {
    description: "Sends a confirmation link to the new address (needs a recent sign-in).",
  })
  requestEmailChange(
    @Arg("newEmail", () => String) newEmail: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client, token }: GraphQLContext,
  ): Promise<boolean> {
    // The viewer exists, so the token verified.
    const authTime = token.ok ? token.claims.auth_time : undefined;
    return services.email.requestEmailChange(em, { user: viewer.user, authTime }, newEmail, client);
  }

  @Mutation(() => Boolean, { description: "Switches the account to the address the token was sent to." })
  confirmEmailChange(
    @Arg("token", () => String) token: string,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.confirmEmailChange(em, token, client);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => Boolean, { description: "Sends a sign-in link and code if the account exists. Always true." })
  requestSignInEmail(
    @Arg("email", () => String) email: string,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    return services.email.requestSignIn(em, email, client);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, {
    description: "Signs in with the token of a mailed sign-in link (a new session).",
  })
  async signInWithEmailLink(
    @Arg("token", () => String) token: string,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.email.signInWithLink(em, token, client), refreshTokens);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, {
    description: "Signs in with the code of a mailed sign-in message (a new session).",
  })
  async signInWithEmailCode(
    @Arg("input", () => EmailCodeInput) input: EmailCodeInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.email.signInWithCode(em, input, client), refreshTokens);
  }
}
