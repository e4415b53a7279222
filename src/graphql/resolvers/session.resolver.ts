import { Arg, Authorized, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { notImplemented } from "../../errors";
import { AuthPayload } from "../types/auth-payload";
import { ChangePasswordInput } from "../types/inputs";
import { Session } from "../types/session";

/** Operations on the signed-in user's sessions and password. */
@Resolver(() => Session)
export class SessionResolver {
  @Authorized()
  @Query(() => [Session], { description: "The signed-in user's active sessions, newest first." })
  sessions(): Session[] {
    throw notImplemented("sessions");
  }

  @Authorized()
  @Mutation(() => Int, { description: "Ends every session of the signed-in user; returns how many ended." })
  logoutAll(): number {
    throw notImplemented("logoutAll");
  }

  @Authorized()
  @Mutation(() => Boolean, { description: "Ends one of the signed-in user's sessions." })
  revokeSession(@Arg("id", () => ID) _id: string): boolean {
    throw notImplemented("revokeSession");
  }

  @Authorized()
  @Mutation(() => AuthPayload, {
    description:
      "Changes the password, ends every other session of the user, and returns fresh tokens for the current one.",
  })
  changePassword(@Arg("input", () => ChangePasswordInput) _input: ChangePasswordInput): AuthPayload {
    throw notImplemented("changePassword");
  }
}
