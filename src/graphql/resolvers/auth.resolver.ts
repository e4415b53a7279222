import { Arg, Ctx, Mutation, Resolver, UseMiddleware } from "type-graphql";
import { AppError, invalidRefreshToken } from "../../errors";
import type { GraphQLContext } from "../context";
import { AuthRateLimit, countAuthAttempt } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import { LoginInput, RegisterInput } from "../types/inputs";

/** Signing in, refreshing and signing out: the operations that need no access token. */
@Resolver()
export class AuthResolver {
  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, { description: "Creates an account and signs it in (a new session)." })
  async register(
    @Arg("input", () => RegisterInput) input: RegisterInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.accounts.register(em, input, client), refreshTokens);
  }

  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, { description: "Signs in with email and password (a new session)." })
  async login(
    @Arg("input", () => LoginInput) input: LoginInput,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.accounts.login(em, input, client), refreshTokens);
  }

  // Counted like the other credential operations (AuthRateLimit), inside the rotation (Sessions.rotate).
  @Mutation(() => AuthPayload, {
    description:
      "Rotates a refresh token: returns a new access token and a new refresh token for the same session. The argument may be omitted when the refresh token travels in the httpOnly cookie.",
  })
  async refreshToken(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() context: GraphQLContext,
  ): Promise<AuthPayload> {
    const { em, services, client, refreshTokens } = context;
    const admit = countAuthAttempt(context);
    const presented = refreshTokens.presented(refreshToken);
    if (!presented) {
      await admit(em);
      throw invalidRefreshToken("MISSING");
    }
    try {
      return AuthPayload.deliver(await services.sessions.rotate(em, presented, client, admit), refreshTokens);
    } catch (error) {
      // A cookie that can never work again is removed, so the browser stops sending it.
      if (error instanceof AppError && error.code !== "RATE_LIMITED") refreshTokens.clear();
      throw error;
    }
  }

  @Mutation(() => Boolean, { description: "Ends the session that the refresh token belongs to. Idempotent." })
  async logout(
    @Arg("refreshToken", () => String, { nullable: true }) refreshToken: string | null | undefined,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<boolean> {
    const presented = refreshTokens.presented(refreshToken);
    refreshTokens.clear();
    if (!presented) throw invalidRefreshToken("MISSING");
    await services.sessions.logout(em, presented, client);
    return true;
  }
}
