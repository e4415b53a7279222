import { Field, ID, Int, ObjectType } from "type-graphql";
import { PageInfo } from "./page-info";
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
}

@ObjectType("NoteEdge")
export class NoteEdge {
  @Field(() => String)
  cursor!: string;

  @Field(() => Note)
  node!: Note;
}

@ObjectType("NoteConnection")
export class NoteConnection {
  @Field(() => [NoteEdge])
  edges!: NoteEdge[];

  @Field(() => PageInfo)
  pageInfo!: PageInfo;

  @Field(() => Int)
  totalCount!: number;
}
