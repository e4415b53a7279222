import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver, UseMiddleware } from "type-graphql";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { AuthRateLimit } from "../limits";
import { AuthPayload } from "../types/auth-payload";
import { ChangePasswordInput } from "../types/inputs";
import { Session } from "../types/session";

/** Operations on the signed-in user's sessions and password. */
@Resolver(() => Session)
export class SessionResolver {
  @Authorized()
  @Query(() => [Session], { description: "The signed-in user's active sessions, newest first." })
  async sessions(@CurrentViewer() viewer: Viewer, @Ctx() { em, services }: GraphQLContext): Promise<Session[]> {
    const sessions = await services.sessions.listActive(em, viewer.user.id);
    return sessions.map((s) => Session.from(s, viewer.session.id));
  }

  @Authorized()
  @Mutation(() => Int, { description: "Ends every session of the signed-in user; returns how many ended." })
  logoutAll(@CurrentViewer() viewer: Viewer, @Ctx() { em, services, client }: GraphQLContext): Promise<number> {
    return services.sessions.logoutAll(em, viewer.user.id, client);
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Ends one of the signed-in user's sessions." })
  async revokeSession(
    @Arg("id", () => ID) id: string,
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client }: GraphQLContext,
  ): Promise<boolean> {
    await services.sessions.revoke(em, viewer.user.id, id, client);
    return true;
  }

  @Authorized()
  @UseMiddleware(AuthRateLimit)
  @Mutation(() => AuthPayload, {
    description:
      "Changes the password, ends every other session of the user, and returns fresh tokens for the current one.",
  })
  async changePassword(
    @Arg("input", () => ChangePasswordInput) input: ChangePasswordInput,
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services, client, refreshTokens }: GraphQLContext,
  ): Promise<AuthPayload> {
    return AuthPayload.deliver(await services.accounts.changePassword(em, viewer, input, client), refreshTokens);
  }
}
