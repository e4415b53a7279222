import { Entity, Index, ManyToOne, PrimaryKey, Property, t, Unique } from "@mikro-orm/core";
import { User } from "./User";

/**
 * An identity at a provider linked to a user (BEHAVIOUR.md §9). One identity
 * (provider, subject) belongs to at most one user: the unique index decides
 * races between two users linking it.
 */
@Entity({ tableName: "linked_accounts" })
@Unique({ properties: ["provider", "subject"] })
@Index({ properties: ["user"] })
export class LinkedAccount {
  @PrimaryKey({ type: "uuid" })
  id!: string;

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  user!: User;

  @Property({ type: "string", length: 32 })
  provider!: string;

  /** The provider's stable id for the person (`sub`, GitHub's numeric id): never the email, which can change hands. */
  @Property({ type: "string", length: 255 })
  subject!: string;

  /** The email the provider gave when it was linked or last used, if any. */
  @Property({ type: "string", length: 254, nullable: true })
  email: string | null = null;

  /** Whether the provider said that email is verified. */
  @Property({ type: "boolean" })
  emailVerified!: boolean;

  @Property({ type: t.datetime })
  createdAt!: Date;

  @Property({ type: t.datetime, nullable: true })
  lastUsedAt: Date | null = null;
}
