import { randomUUID } from "node:crypto";
import { Entity, OptionalProps, PrimaryKey, Property, t } from "@mikro-orm/core";

export const ROLES = ["USER", "ADMIN"] as const;
export type Role = (typeof ROLES)[number];

@Entity({ tableName: "users" })
export class User {
  [OptionalProps]?: "roles" | "createdAt" | "updatedAt" | "emailVerifiedAt";

  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  /** Normalised (trimmed, lower-cased); the unique index makes it case-insensitively unique. */
  @Property({ type: "string", length: 254, unique: true })
  email!: string;

  /**
   * argon2id PHC string. Never leaves the server. Null for an account made
   * through an identity provider until a reset link sets one (BEHAVIOUR.md §4, §9).
   */
  @Property({ type: "string", length: 255, hidden: true, nullable: true })
  passwordHash: string | null = null;

  /** When the user proved they receive mail at `email` (BEHAVIOUR.md §7); null until then, and again after a change of address. */
  @Property({ type: t.datetime, nullable: true })
  emailVerifiedAt: Date | null = null;

  @Property({ type: "json" })
  roles: Role[] = ["USER"];

  @Property({ type: t.datetime })
  createdAt: Date = new Date();

  @Property({ type: t.datetime, onUpdate: () => new Date() })
  updatedAt: Date = new Date();
}
