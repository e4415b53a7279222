import { Field, Int, ObjectType } from "type-graphql";
import type { IssuedTokens } from "../../auth/sessions";
import { User } from "./user";

@ObjectType("AuthPayload", { description: "What register, login, refreshToken and changePassword return." })
export class AuthPayload {
  @Field(() => String, { description: "Short-lived JWT to send as `Authorization: Bearer <accessToken>`." })
  accessToken!: string;

  @Field(() => String, { description: 'Always "Bearer".' })
  tokenType!: string;

  @Field(() => Int, { description: "Seconds until accessToken expires." })
  expiresIn!: number;

  @Field(() => String, {
    nullable: true,
    description:
      "Opaque, single-use refresh token. Null when the server delivered it as an httpOnly cookie instead (cookie transport).",
  })
  refreshToken!: string | null;

  @Field(() => Date, { description: "When the returned refresh token stops working if unused." })
  refreshTokenExpiresAt!: Date;

  @Field(() => User)
  user!: User;

  static from(issued: IssuedTokens): AuthPayload {
    return {
      accessToken: issued.accessToken,
      tokenType: "Bearer",
      expiresIn: issued.expiresIn,
      refreshToken: issued.refreshToken,
      refreshTokenExpiresAt: issued.refreshTokenExpiresAt,
      user: User.from(issued.user),
    };
  }
}
