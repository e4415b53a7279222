import { registerEnumType } from "type-graphql";
import type { Role as RoleName } from "../../db/entities";

export enum Role {
  USER = "USER",
  ADMIN = "ADMIN",
}

registerEnumType(Role, {
  name: "Role",
  description: "What a user may do. Everyone has USER; an operator grants ADMIN.",
});

// Keeps the GraphQL enum and the stored role names from drifting apart.
export const toRole = (name: RoleName): Role => Role[name];
