import { Field, ID, ObjectType } from "type-graphql";
import type { Note as NoteEntity } from "../../db/entities";
import type { UserSummary } from "../../db/stores/session-store";
import { Connection } from "./connection";
import { User } from "./user";

@ObjectType("Note")
export class Note {
  @Field(() => ID)
  id!: string;

  @Field(() => String)
  title!: string;

  @Field(() => String)
  body!: string;

  @Field(() => Date)
  createdAt!: Date;

  @Field(() => Date)
  updatedAt!: Date;

  @Field(() => User)
  owner!: User;

  /**
   * Notes are only ever shown to their owner, who is the signed-in viewer
   * already loaded for the request: resolving `owner` costs no query at all.
   */
  static from(note: NoteEntity, owner: UserSummary): Note {
    const { id, title, body, createdAt, updatedAt } = note;
    return { id, title, body, createdAt, updatedAt, owner: User.from(owner) };
  }
}

@ObjectType("NoteConnection")
export class NoteConnection extends Connection("Note", Note) {}
