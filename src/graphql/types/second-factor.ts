import { registerEnumType } from "type-graphql";
import type { SecondFactorKind } from "../../mfa/second-factors";

export enum SecondFactor {
  TOTP = "TOTP",
  PASSKEY = "PASSKEY",
}

registerEnumType(SecondFactor, { name: "SecondFactor" });

// Keeps the GraphQL enum and the domain's kinds from drifting apart.
export const toSecondFactor = (kind: SecondFactorKind): SecondFactor => SecondFactor[kind];
