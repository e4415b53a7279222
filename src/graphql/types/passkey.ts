import { MaxLength } from "class-validator";
import { Field, ID, InputType, ObjectType } from "type-graphql";
import type { PasskeyCeremony, PasskeyRecord } from "../../mfa/passkeys";
import { JSONObject } from "../json-object";
import { MAX_RAW_CREDENTIAL_LENGTH } from "./inputs";

@ObjectType("Passkey")
export class Passkey {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  name!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date, { nullable: true })
  lastUsedAt!: Date | null;

  static from(passkey: PasskeyRecord): Passkey {
    const { id, name, createdAt, lastUsedAt } = passkey;
    return { id, name, createdAt, lastUsedAt };
  }
}

@ObjectType("PasskeyChallenge", { description: "A WebAuthn ceremony in progress." })
export class PasskeyChallenge {
  @Field(() => String, { description: "Send back with the authenticator's response. Single-use, 5 minutes." })
  challengeId!: string;

  @Field(() => JSONObject, {
    description: "PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON.",
  })
  options!: object;

  static from(ceremony: PasskeyCeremony<object>): PasskeyChallenge {
    return { challengeId: ceremony.challengeId, options: ceremony.options };
  }
}

@InputType("PasskeyResponseInput")
export class PasskeyResponseInput {
  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, { message: "challengeId is too long" })
  challengeId!: string;

  @Field(() => JSONObject, {
    description: "The authenticator's response as JSON (RegistrationResponseJSON / AuthenticationResponseJSON).",
  })
  response!: Record<string, unknown>;
}

@InputType("FinishPasskeyRegistrationInput")
export class FinishPasskeyRegistrationInput {
  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, { message: "challengeId is too long" })
  challengeId!: string;

  @Field(() => JSONObject)
  response!: Record<string, unknown>;

  @Field(() => String, { nullable: true, description: 'A label the user chooses, e.g. "Work laptop".' })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, { message: "name is too long" })
  name?: string | null;
}
