import { Field, ID, ObjectType } from "type-graphql";
import type { SessionRecord } from "../../db/stores/session-store";

@ObjectType("Session", { description: "One signed-in device: a chain of rotated refresh tokens." })
export class Session {
  @Field(() => ID)
  id!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  lastUsedAt!: Date;

  @Field(() => Date, { description: "Absolute end of the session; refreshing never extends past it." })
  expiresAt!: Date;

  @Field(() => String, { nullable: true })
  userAgent!: string | null;

  @Field(() => String, { nullable: true })
  ip!: string | null;

  @Field(() => Boolean, { description: "True for the session the current access token belongs to." })
  current!: boolean;

  static from(session: SessionRecord, currentSessionId: string): Session {
    const { id, createdAt, lastUsedAt, expiresAt, userAgent, ip } = session;
    return { id, createdAt, lastUsedAt, expiresAt, userAgent, ip, current: id === currentSessionId };
  }
}
