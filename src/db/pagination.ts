import type { EntityManager, EntityName, FilterQuery } from "@mikro-orm/core";
import { badUserInput } from "../errors";
import { isUuid } from "./ids";

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface PageRequest {
  first?: number | null;
  after?: string | null;
}

export interface Page<T> {
  items: Array<{ cursor: string; node: T }>;
  hasNextPage: boolean;
  endCursor: string | null;
  totalCount: number;
}

interface Keyed {
  id: string;
  createdAt: Date;
}

/** Opaque to clients; inside, the sort key of the last row seen. */
const encodeCursor = (row: Keyed) =>
  Buffer.from(JSON.stringify([row.createdAt.getTime(), row.id])).toString("base64url");

/**
 * Cursor times a row's createdAt can have: 1970 to the end of year 9999.
 * Wider would reach the database as what it cannot hold: JavaScript's Invalid
 * Date past ±8.64e15 ms, PostgreSQL's "timestamp out of range" before 4713 BC.
 */
const CURSOR_TIMES = { min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) };

/**
 * Only a cursor shaped like the ones this server makes is accepted: an
 * integer time in CURSOR_TIMES and a UUID. Anything else (`[1e300,"x"]`, a
 * non-UUID id) would fail in the database as a 500 instead of BAD_USER_INPUT.
 */
function decodeCursor(cursor: string): { createdAt: Date; id: string } {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    decoded = null; // not JSON: not ours
  }
  if (Array.isArray(decoded) && decoded.length === 2) {
    const [time, id] = decoded as unknown[];
    const inRange =
      Number.isSafeInteger(time) && (time as number) >= CURSOR_TIMES.min && (time as number) <= CURSOR_TIMES.max;
    if (inRange && typeof id === "string" && isUuid(id)) return { createdAt: new Date(time as number), id };
  }
  throw badUserInput("after", "The cursor is not valid; pass an endCursor from a previous page");
}

/**
 * Keyset pagination on (createdAt, id): a page starts strictly after the
 * cursor's row, so rows inserted meanwhile never shift later pages (no
 * duplicates, no gaps), and each page is one indexed range query.
 */
export async function paginate<T extends Keyed>(
  em: EntityManager,
  entity: EntityName<T>,
  where: FilterQuery<T>,
  order: "asc" | "desc",
  request: PageRequest,
): Promise<Page<T>> {
  const first = request.first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(first) || first < 0 || first > MAX_PAGE_SIZE) {
    throw badUserInput("first", `first must be between 0 and ${MAX_PAGE_SIZE}`);
  }
  const after = request.after ? decodeCursor(request.after) : null;
  const beyond = order === "asc" ? "$gt" : "$lt";
  const range = after
    ? {
        $or: [{ createdAt: { [beyond]: after.createdAt } }, { createdAt: after.createdAt, id: { [beyond]: after.id } }],
      }
    : {};

  const [rows, totalCount] = await Promise.all([
    em.find(entity, { $and: [where, range] } as FilterQuery<T>, {
      orderBy: { createdAt: order, id: order } as never,
      limit: first + 1,
    }),
    em.count(entity, where),
  ]);
  const pageRows = rows.slice(0, first);
  const items = pageRows.map((node) => ({ cursor: encodeCursor(node), node }));
  return { items, hasNextPage: rows.length > first, endCursor: items.at(-1)?.cursor ?? null, totalCount };
}
