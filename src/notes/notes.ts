import type { EntityManager } from "@mikro-orm/core";
import { codePointLength } from "../auth/passwords";
import { Note } from "../db/entities";
import { isUuid } from "../db/ids";
import { type Page, type PageRequest, paginate } from "../db/pagination";
import { badUserInput, notFound } from "../errors";

export const MAX_TITLE_LENGTH = 200;
export const MAX_BODY_LENGTH = 10_000;

export interface NoteFields {
  title?: string | null;
  body?: string | null;
}

/**
 * Notes are visible to their owner only. Another user's note behaves exactly
 * like a missing one (null / NOT_FOUND), so ids leak nothing about others.
 */
export class Notes {
  list(em: EntityManager, ownerId: string, page: PageRequest): Promise<Page<Note>> {
    return paginate(em, Note, { owner: ownerId }, "desc", page);
  }

  async find(em: EntityManager, ownerId: string, id: string): Promise<Note | null> {
    return isUuid(id) ? em.findOne(Note, { id, owner: ownerId }) : null;
  }

  // Writes go straight to the database, never through a flush (see db/transaction.ts).
  async create(em: EntityManager, ownerId: string, input: { title: string; body: string }): Promise<Note> {
    const note = em.create(
      Note,
      { owner: ownerId, title: checkTitle(input.title), body: checkBody(input.body) },
      { persist: false },
    );
    await em.insert(note);
    return note;
  }

  /** A partial update: an absent or null field keeps its value. */
  async update(em: EntityManager, ownerId: string, id: string, patch: NoteFields): Promise<Note> {
    const note = await this.owned(em, ownerId, id);
    const title = patch.title == null ? note.title : checkTitle(patch.title);
    const body = patch.body == null ? note.body : checkBody(patch.body);
    if (title !== note.title || body !== note.body) {
      const changes = { title, body, updatedAt: new Date() };
      await em.nativeUpdate(Note, { id: note.id }, changes);
      Object.assign(note, changes);
    }
    return note;
  }

  async delete(em: EntityManager, ownerId: string, id: string): Promise<void> {
    const note = await this.owned(em, ownerId, id);
    await em.nativeDelete(Note, { id: note.id });
  }

  private async owned(em: EntityManager, ownerId: string, id: string): Promise<Note> {
    const note = await this.find(em, ownerId, id);
    if (note === null) throw notFound("Note");
    return note;
  }
}

/**
 * Stored exactly as sent (BEHAVIOUR.md §4): no trimming behind the user's
 * back, so "  draft " stays "  draft " and a title of spaces is a title.
 * NUL and unpaired surrogates never get here (graphql/input-hygiene.ts).
 */
function checkTitle(title: string): string {
  if (title.length === 0) throw badUserInput("title", "Title must not be empty");
  if (codePointLength(title) > MAX_TITLE_LENGTH) {
    throw badUserInput("title", `Title must be at most ${MAX_TITLE_LENGTH} characters`);
  }
  return title;
}

function checkBody(body: string): string {
  if (codePointLength(body) > MAX_BODY_LENGTH) {
    throw badUserInput("body", `Body must be at most ${MAX_BODY_LENGTH} characters`);
  }
  return body;
}
