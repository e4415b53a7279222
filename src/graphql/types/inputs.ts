import { MaxLength } from "class-validator";
import { Field, InputType } from "type-graphql";

/**
 * A cheap first bound on raw input sizes, checked before any normalisation or
 * hashing. The precise rules (email syntax, password length in code points
 * after NFKC, blocklist) live in auth/ and report their own reasons.
 */
export const MAX_RAW_CREDENTIAL_LENGTH = 1024;
const tooLong = (field: string) => ({ message: `${field} is too long` });

/** Email and password, as register and login take them. */
@InputType()
abstract class CredentialsInput {
  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Email"))
  email!: string;

  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Password"))
  password!: string;
}

@InputType("RegisterInput")
export class RegisterInput extends CredentialsInput {}

@InputType("LoginInput")
export class LoginInput extends CredentialsInput {}

@InputType("ChangePasswordInput")
export class ChangePasswordInput {
  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Current password"))
  currentPassword!: string;

  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("New password"))
  newPassword!: string;
}

@InputType("ResetPasswordInput")
export class ResetPasswordInput {
  @Field(() => String, { description: "The token from the reset link." })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Token"))
  token!: string;

  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("New password"))
  newPassword!: string;
}

@InputType("EmailCodeInput")
export class EmailCodeInput {
  @Field(() => String)
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Email"))
  email!: string;

  @Field(() => String, { description: "The 6-digit code from the sign-in mail." })
  @MaxLength(MAX_RAW_CREDENTIAL_LENGTH, tooLong("Code"))
  code!: string;
}

@InputType("NoteInput")
export class NoteInput {
  @Field(() => String)
  title!: string;

  @Field(() => String)
  body!: string;
}

@InputType("NotePatch")
export class NotePatch {
  @Field(() => String, { nullable: true })
  title?: string | null;

  @Field(() => String, { nullable: true })
  body?: string | null;
}
