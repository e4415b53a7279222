import { Arg, Authorized, Ctx, FieldResolver, ID, Int, Mutation, Query, Resolver, Root } from "type-graphql";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { toConnection } from "../types/connection";
import { Role } from "../types/role";
import { SecondFactor, toSecondFactor } from "../types/second-factor";
import { User, UserConnection } from "../types/user";

@Resolver(() => User)
export class UserResolver {
  @Authorized()
  @Query(() => User, { description: "The signed-in user. UNAUTHENTICATED without a valid access token." })
  me(@CurrentViewer() viewer: Viewer): User {
    return User.from(viewer.user);
  }

  @Authorized(Role.ADMIN)
  @Query(() => UserConnection, { description: "ADMIN only: every user, oldest first." })
  async users(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<UserConnection> {
    return toConnection(await services.roles.listUsers(em, { first, after }), User.from);
  }

  @FieldResolver(() => [SecondFactor], { description: "The second factors the user has set up; empty when none." })
  async secondFactors(@Root() user: User, @Ctx() { em, services }: GraphQLContext): Promise<SecondFactor[]> {
    return (await services.secondFactors.factorsOf(em, user.id)).map(toSecondFactor);
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => User, { description: "ADMIN only." })
  async setUserRoles(
    @Arg("userId", () => ID) userId: string,
    @Arg("roles", () => [Role]) roles: Role[],
    @CurrentViewer() viewer: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<User> {
    return User.from(await services.roles.setUserRoles(em, viewer.user.id, userId, roles));
  }
}
