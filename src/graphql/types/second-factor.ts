import { registerEnumType } from "type-graphql";

/** The second factors a user can set up (mfa.graphql); `User.secondFactors` lists them. */
export enum SecondFactor {
  TOTP = "TOTP",
  PASSKEY = "PASSKEY",
}

registerEnumType(SecondFactor, { name: "SecondFactor" });
