import { Field, ObjectType } from "type-graphql";

@ObjectType("TotpSetup", { description: "Everything an authenticator app needs." })
export class TotpSetup {
  @Field(() => String, { description: "Base32 secret, for typing in by hand." })
  secret!: string;

  @Field(() => String, { description: "otpauth:// URI (RFC 6238: SHA-1, 6 digits, 30 s)." })
  uri!: string;

  @Field(() => String, { description: "The URI as an SVG QR code, ready to inline." })
  qrCodeSvg!: string;
}
