import { Field, Int, ObjectType } from "type-graphql";
import type { IssuedTokens } from "../../auth/sessions";
import type { RefreshTokenTransport } from "../../http/refresh-token-transport";
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

  /** `transport` hands the refresh token over (body, cookie or both) and says what the body carries. */
  static deliver(issued: IssuedTokens, transport: RefreshTokenTransport): AuthPayload {
    return {
      accessToken: issued.accessToken,
      tokenType: "Bearer",
      expiresIn: issued.expiresIn,
      refreshToken: transport.deliver(issued.refreshToken, issued.refreshTokenExpiresAt),
      refreshTokenExpiresAt: issued.refreshTokenExpiresAt,
      user: User.from(issued.user),
    };
  }
}
