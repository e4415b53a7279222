import { Field, ID, Int, ObjectType } from "type-graphql";
import type { User as UserEntity } from "../../db/entities";
import { PageInfo } from "./page-info";
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

  static from(user: UserEntity): User {
    return { id: user.id, email: user.email, roles: user.roles.map(toRole), createdAt: user.createdAt };
  }
}

@ObjectType("UserEdge")
export class UserEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => User)
  node!: User;
}

@ObjectType("UserConnection")
export class UserConnection {
  @Field(() => [UserEdge])
  edges!: UserEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}
