import { Arg, Authorized, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { notImplemented } from "../../errors";
import { CurrentViewer } from "../auth-checker";
import type { Viewer } from "../context";
import { Role } from "../types/role";
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
  users(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) _first: number | null,
    @Arg("after", () => String, { nullable: true }) _after: string | null,
  ): UserConnection {
    throw notImplemented("users");
  }

  @Authorized(Role.ADMIN)
  @Mutation(() => User, { description: "ADMIN only." })
  setUserRoles(@Arg("userId", () => ID) _userId: string, @Arg("roles", () => [Role]) _roles: Role[]): User {
    throw notImplemented("setUserRoles");
  }
}
