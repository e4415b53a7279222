import { Arg, Authorized, Ctx, ID, Int, Mutation, Query, Resolver } from "type-graphql";
import { CurrentViewer } from "../auth-checker";
import type { GraphQLContext, Viewer } from "../context";
import { toConnection } from "../types/connection";
import { NoteInput, NotePatch } from "../types/inputs";
import { Note, NoteConnection } from "../types/note";

/** Notes: the example of a resource protected per owner. */
@Resolver(() => Note)
export class NoteResolver {
  @Authorized()
  @Query(() => NoteConnection, { description: "The signed-in user's own notes, newest first." })
  async notes(
    @Arg("first", () => Int, { nullable: true, defaultValue: 20 }) first: number | null,
    @Arg("after", () => String, { nullable: true }) after: string | null,
    @CurrentViewer() { user }: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<NoteConnection> {
    return toConnection(await services.notes.list(em, user.id, { first, after }), (note) => Note.from(note, user));
  }

  @Authorized()
  @Query(() => Note, {
    nullable: true,
    description: "One of the signed-in user's notes; null when absent or not theirs.",
  })
  async note(
    @Arg("id", () => ID) id: string,
    @CurrentViewer() { user }: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<Note | null> {
    const note = await services.notes.find(em, user.id, id);
    return note && Note.from(note, user);
  }

  @Authorized()
  @Mutation(() => Note)
  async createNote(
    @Arg("input", () => NoteInput) input: NoteInput,
    @CurrentViewer() { user }: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<Note> {
    return Note.from(await services.notes.create(em, user.id, input), user);
  }

  @Authorized()
  @Mutation(() => Note)
  async updateNote(
    @Arg("id", () => ID) id: string,
    @Arg("patch", () => NotePatch) patch: NotePatch,
    @CurrentViewer() { user }: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<Note> {
    return Note.from(await services.notes.update(em, user.id, id, patch), user);
  }

  @Authorized()
  @Mutation(() => Boolean)
  async deleteNote(
    @Arg("id", () => ID) id: string,
    @CurrentViewer() { user }: Viewer,
    @Ctx() { em, services }: GraphQLContext,
  ): Promise<boolean> {
    await services.notes.delete(em, user.id, id);
    return true;
  }
}
