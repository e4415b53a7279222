import { randomUUID } from "node:crypto";
import { Entity, Index, ManyToOne, OptionalProps, PrimaryKey, Property, t } from "@mikro-orm/core";
import { User } from "./User";

/** The example of a resource protected per owner. */
@Entity({ tableName: "notes" })
@Index({ properties: ["owner", "createdAt", "id"] })
export class Note {
  [OptionalProps]?: "createdAt" | "updatedAt";

  @PrimaryKey({ type: "uuid" })
  id: string = randomUUID();

  @ManyToOne({ entity: () => User, deleteRule: "cascade" })
  owner!: User;

  @Property({ type: "string", length: 200 })
  title!: string;

  @Property({ type: "text" })
  body!: string;

  @Property({ type: t.datetime })
  createdAt: Date = new Date();

  @Property({ type: t.datetime })
  updatedAt: Date = new Date();
}
