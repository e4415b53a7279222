import { MaxLength } from "class-validator";
import { Field, InputType } from "type-graphql";
import { MAX_RAW_CREDENTIAL_LENGTH } from "./inputs";
// One input type for every passkey answer: the passkeys' own operations, verifyMfa and reauthenticate.
import { PasskeyResponseInput } from "./passkey";

const tooLong = (field: string) => ({ message: `${field} is too long` });

@InputType("VerifyMfaInput")
export class VerifyMfaInput {
  @Field(() => String, { description: "From the MFA_REQUIRED error's extensions." })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("mfaToken"))
  mfaToken!: string;

  @Field(() => String, { nullable: true, description: "A TOTP or recovery code." })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Code"))
  code?: string | null;

  @Field(() => PasskeyResponseInput, {
    nullable: true,
    description: "A passkey assertion for the challenge of startPasskeyMfa.",
  })
  passkey?: PasskeyResponseInput | null;
}

@InputType("ReauthenticateInput")
export class ReauthenticateInput {
  @Field(() => String, { nullable: true })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Password"))
  password?: string | null;

  @Field(() => String, { nullable: true, description: "A TOTP or recovery code." })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Code"))
  code?: string | null;

  @Field(() => PasskeyResponseInput, {
    nullable: true,
    description: "A passkey assertion for a challenge of startPasskeySignIn.",
  })
  passkey?: PasskeyResponseInput | null;
}
