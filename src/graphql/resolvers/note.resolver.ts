import { Arg, Authorized, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { notImplemented } from "../../errors";
import { NoteInput, NotePatch } from "../types/inputs";
import { Note, NoteConnection } from "../types/note";

/** Notes: the example of a resource protected per owner. */
@Resolver(() => Note)
export class NoteResolver {
  @Authorized()
  @Query(() => NoteConnection, { description: "The signed-in user's own notes, newest first." })
  notes(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) _first: number | null,
    @Arg("after", () => String, { nullable: true }) _after: string | null,
  ): NoteConnection {
    throw notImplemented("notes");
  }

  @Authorized()
  @Query(() => Note, {
    nullable: true,
    description: "One of the signed-in user's notes; null when absent or not theirs.",
  })
  note(@Arg("id", () => ID) _id: string): Note | null {
    throw notImplemented("note");
  }

  @Authorized()
  @Mutation(() => Note)
  createNote(@Arg("input", () => NoteInput) _input: NoteInput): Note {
    throw notImplemented("createNote");
  }

  @Authorized()
  @Mutation(() => Note)
  updateNote(@Arg("id", () => ID) _id: string, @Arg("patch", () => NotePatch) _patch: NotePatch): Note {
    throw notImplemented("updateNote");
  }

  @Authorized()
  @Mutation(() => Boolean)
  deleteNote(@Arg("id", () => ID) _id: string): boolean {
    throw notImplemented("deleteNote");
  }
}
