import { Field, ID, ObjectType } from "type-graphql";
import type { UserSummary } from "../../db/stores/session-store";
import { Connection } from "./connection";
import { Role, toRole } from "./role";

@ObjectType("User")
export class User {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  email!: string;

  @Field(() => [Role])
  roles!: Role[];

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Boolean, { description: "True once the user proved they receive mail at `email`." })
  emailVerified!: boolean;

  static from(user: UserSummary): User {
    return {
      id: user.id,
      email: user.email,
      roles: user.roles.map(toRole),
      createdAt: user.createdAt,
      emailVerified: user.emailVerified,
    };
  }
}

@ObjectType("UserConnection")
export class UserConnection extends Connection("User", User) {}
