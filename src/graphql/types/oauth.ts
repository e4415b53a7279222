import { MaxLength } from "class-validator";
import { Field, ID, InputType, ObjectType } from "type-graphql";
import type { StoredLinkedAccount } from "../../db/stores/oauth-store";

/** Longer than any provider's code or our state (43 characters); longer input is refused before any lookup. */
export const MAX_CALLBACK_VALUE_LENGTH = 2048;
/** Provider ids are at most 32 characters (config-oauth.ts). */
export const MAX_PROVIDER_ID_LENGTH = 64;

@ObjectType("OAuthProvider")
export class OAuthProvider {
  @Field(() => String, { description: 'The id used in the other operations, e.g. "google".' })
  id!: string;

  @Field(() => String, { description: 'A display name, e.g. "Google".' })
  name!: string;
}

@ObjectType("OAuthStart")
export class OAuthStart {
  @Field(() => String, {
    description: "Send the browser here; the provider returns to the redirect URI with code and state.",
  })
  authorizationUrl!: string;
}

@ObjectType("LinkedAccount")
export class LinkedAccount {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  provider!: string;

  @Field(() => String, { nullable: true, description: "The email the provider gave, if any." })
  email!: string | null;

  @Field(() => Date)
  createdAt!: Date;

  static from(link: StoredLinkedAccount): LinkedAccount {
    const { id, provider, email, createdAt } = link;
    return { id, provider, email, createdAt };
  }
}

@InputType("OAuthCallbackInput")
export class OAuthCallbackInput {
  @Field(() => String)
  @MaxLength(MAX_PROVIDER_ID_LENGTH, { message: "provider is too long" })
  provider!: string;

  @Field(() => String)
  @MaxLength(MAX_CALLBACK_VALUE_LENGTH, { message: "code is too long" })
  code!: string;

  @Field(() => String)
  @MaxLength(MAX_CALLBACK_VALUE_LENGTH, { message: "state is too long" })
  state!: string;
}
